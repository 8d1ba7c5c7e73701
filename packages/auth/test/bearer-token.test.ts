import * as grpc from '@grpc/grpc-js';
import { getCallContext } from '@weft/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Harness, spinFailingCalls, startHarness, unary } from '../../../test/harness';
import { bearerToken, jwtAuth } from '../src/index';
import { AUDIENCE, hs256, ISSUER, SECRET } from './keys';

const seenToken = () => ({ auth: String(getCallContext()?.metadata?.get('authorization')[0]) });

describe('bearerToken', () => {
  let harness: Harness | undefined;
  afterEach(async () => harness?.close());

  async function withClient(client: grpc.Interceptor) {
    harness = await startHarness({
      serverInterceptors: [
        jwtAuth({ keys: { secret: SECRET }, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE }),
      ],
      clientInterceptors: [client],
      probe: seenToken,
    });
    return harness;
  }

  it.each([
    [
      'an options object',
      { token: 'abc' },
      'bearerToken: option "source" must be a token string or a function returning one (got an object)',
    ],
    [
      'nothing',
      undefined,
      'bearerToken: option "source" must be a token string or a function returning one (got undefined)',
    ],
    ['an empty token', '', 'weft/auth: bearerToken needs a non-empty token'],
  ])('refuses %s as the token source at setup', (_name, source, message) => {
    expect(() => bearerToken(source as never)).toThrow(message);
  });

  it('sends a static token on every call', async () => {
    const token = hs256();
    const h = await withClient(bearerToken(token));
    const result = await unary(h.client, {});
    expect(result.status.code).toBe(grpc.status.OK);
    expect(result.responses[0]?.context.auth).toBe(`Bearer ${token}`);
  });

  it('asks the provider once for many concurrent calls, then refreshes before expiry', async () => {
    let clock = Date.now();
    let calls = 0;
    const provider = async () => {
      calls++;
      await new Promise(setImmediate); // still pending while the other calls ask
      // 62 s lifetime and a 60 s refresh margin: due for refresh 2 s after issue.
      return { token: hs256({ n: calls }), expiresAt: clock + 62_000 };
    };
    const h = await withClient(bearerToken(provider, { now: () => clock }));
    const first = await Promise.all(Array.from({ length: 20 }, () => unary(h.client, {})));
    expect(first.every((r) => r.status.code === grpc.status.OK)).toBe(true);
    expect(calls).toBe(1);
    const token = first[0]?.responses[0]?.context.auth;
    clock += 1900;
    expect((await unary(h.client, {})).responses[0]?.context.auth).toBe(token);
    expect(calls).toBe(1);
    clock += 200;
    // The call that notices starts one background refresh and still uses the current token.
    const during = await Promise.all(Array.from({ length: 5 }, () => unary(h.client, {})));
    expect(during.every((r) => r.status.code === grpc.status.OK)).toBe(true);
    expect(during.map((r) => r.responses[0]?.context.auth)).toEqual(Array(5).fill(token));
    await vi.waitFor(() => expect(calls).toBe(2));
    const after = await unary(h.client, {});
    expect(after.responses[0]?.context.auth).not.toBe(token);
    expect(calls).toBe(2);
  });

  it('waits for a new token once the old one expired', async () => {
    let clock = Date.now();
    let n = 0;
    const h = await withClient(
      bearerToken(() => ({ token: hs256({ n: ++n }), expiresAt: clock + 100 }), {
        refreshBeforeSeconds: 0,
        now: () => clock,
      }),
    );
    const a = await unary(h.client, {});
    clock += 99;
    expect((await unary(h.client, {})).responses[0]?.context.auth).toBe(a.responses[0]?.context.auth);
    clock += 51;
    const b = await unary(h.client, {});
    expect(a.responses[0]?.context.auth).not.toBe(b.responses[0]?.context.auth);
    expect(n).toBe(2);
  });

  it('fails the call with UNAUTHENTICATED, without reaching the server, when no token can be had', async () => {
    const errors: unknown[] = [];
    const h = await withClient(
      bearerToken(() => Promise.reject(new Error('identity provider down: client_id=abc')), {
        onError: (error) => errors.push(error),
      }),
    );
    const result = await unary(h.client, {});
    expect(result.status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(result.status.details).toBe('could not obtain a token');
    expect(String(errors[0])).toContain('identity provider down');
    expect(h.handled.get('Unary') ?? 0).toBe(0);
  });
  it('fails calls without a token on a macrotask, so a tight loop of them leaves timers running', async () => {
    const h = await withClient(
      bearerToken(() => {
        throw new Error('token endpoint down');
      }),
    );
    const { ticks, codes } = await spinFailingCalls(async () => (await unary(h.client, {})).status);
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(codes).toEqual([`${grpc.status.UNAUTHENTICATED} could not obtain a token`]);
    expect(h.handled.get('Unary')).toBeUndefined();
  });
});
