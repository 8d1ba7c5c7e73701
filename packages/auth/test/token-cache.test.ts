import * as grpc from '@grpc/grpc-js';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Harness, metadata, startHarness, unary } from '../../../test/harness';
import { jwtAuth } from '../src/index';
import { AUDIENCE, hs256, ISSUER, SECRET } from './keys';

const bearer = (token: string) => metadata({ authorization: `Bearer ${token}` });

describe('verified token cache', () => {
  let harness: Harness;
  /** The interceptor's clock (`now`), moved by the tests instead of waiting. */
  let clock = Date.now();
  beforeAll(async () => {
    harness = await startHarness({
      serverInterceptors: [
        jwtAuth({
          keys: { secret: SECRET },
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          clockToleranceSeconds: 0,
          now: () => clock,
        }),
      ],
    });
  });
  afterAll(() => harness.close());

  it('does not verify the same token twice', async () => {
    const verify = vi.spyOn(jwt, 'verify');
    try {
      const token = hs256();
      for (let i = 0; i < 10; i++) {
        expect((await unary(harness.client, {}, { metadata: bearer(token) })).status.code).toBe(
          grpc.status.OK,
        );
      }
      expect(verify).toHaveBeenCalledTimes(1);
    } finally {
      verify.mockRestore();
    }
  });

  it('never serves an entry past the token expiry, by the injected clock', async () => {
    clock = Date.now();
    const exp = Math.floor(clock / 1000) + 1;
    const token = hs256({ exp }, { expiresIn: undefined });
    expect((await unary(harness.client, {}, { metadata: bearer(token) })).status.code).toBe(grpc.status.OK);
    clock = exp * 1000 + 50;
    const after = await unary(harness.client, {}, { metadata: bearer(token) });
    expect(after.status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(after.status.details).toBe('token expired');
  });
});
