import { createPublicKey } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, metadata, startHarness, unary } from '../../../test/harness';
import { jwtAuth } from '../src/index';
import { AUDIENCE, ISSUER, otherRsa, rs256, rsa } from './keys';

const jwk = (pem: string, kid: string) => ({
  ...createPublicKey(pem).export({ format: 'jwk' }),
  kid,
  alg: 'RS256',
  use: 'sig',
});
const bearer = (token: string) => metadata({ authorization: `Bearer ${token}` });

/** A real JWKS endpoint on loopback whose key set the test rotates. */
describe('jwtAuth with a JWKS endpoint', () => {
  let jwksServer: Server;
  let harness: Harness;
  let keys = [jwk(rsa.publicKey, 'k1')];
  let fetches = 0;
  /** jwtAuth's clock (`now`): the key cache's age is read from it, so the test moves it instead of waiting. */
  let clock = Date.now();

  beforeAll(async () => {
    jwksServer = createServer((req, res) => {
      fetches++;
      if (req.url !== '/.well-known/jwks.json') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const { port } = jwksServer.address() as AddressInfo;
    harness = await startHarness({
      serverInterceptors: [
        jwtAuth({
          keys: {
            jwksUri: `http://127.0.0.1:${port}/.well-known/jwks.json`,
            cacheMaxAgeMs: 1000,
            requestsPerMinute: 5,
          },
          algorithms: ['RS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          now: () => clock,
        }),
      ],
    });
  });
  afterAll(async () => {
    await harness.close();
    jwksServer.closeAllConnections();
    await new Promise((resolve) => jwksServer.close(resolve));
  });

  it('verifies a token signed by a published key and fetches the set once', async () => {
    const before = fetches;
    for (let i = 0; i < 5; i++) {
      const result = await unary(harness.client, {}, { metadata: bearer(rs256({ n: i }, { keyid: 'k1' })) });
      expect(result.status.code).toBe(grpc.status.OK);
    }
    expect(fetches - before).toBe(1);
  });

  it('picks up a rotated key and stops trusting the removed one after the cache age', async () => {
    const kept = rs256({ kept: true }, { keyid: 'k1' });
    expect((await unary(harness.client, {}, { metadata: bearer(kept) })).status.code).toBe(grpc.status.OK);
    keys = [jwk(otherRsa.publicKey, 'k2')];
    const rotated = await unary(
      harness.client,
      {},
      { metadata: bearer(rs256({}, { keyid: 'k2' }, otherRsa.privateKey)) },
    );
    expect(rotated.status.code).toBe(grpc.status.OK);
    clock += 1100;
    const old = await unary(
      harness.client,
      {},
      { metadata: bearer(rs256({ fresh: true }, { keyid: 'k1' })) },
    );
    expect(old.status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(old.status.details).toContain('kid');
    // A token verified (and cached) with the removed key is not trusted past the key either.
    expect((await unary(harness.client, {}, { metadata: bearer(kept) })).status.code).toBe(
      grpc.status.UNAUTHENTICATED,
    );
  });

  it('rate-limits refetches when tokens carry unknown kids', async () => {
    const before = fetches;
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        unary(harness.client, {}, { metadata: bearer(rs256({}, { keyid: `nope-${i}` })) }),
      ),
    );
    expect(results.every((r) => r.status.code === grpc.status.UNAUTHENTICATED)).toBe(true);
    expect(fetches - before).toBeLessThanOrEqual(5);
  });
});

it('fails closed with UNAVAILABLE when the key set cannot be fetched', async () => {
  // A port that was just free: nothing listens there.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const harness = await startHarness({
    serverInterceptors: [
      jwtAuth({
        keys: { jwksUri: `http://127.0.0.1:${port}/jwks.json`, timeoutMs: 500 },
        algorithms: ['RS256'],
      }),
    ],
  });
  try {
    const result = await unary(harness.client, {}, { metadata: bearer(rs256({}, { keyid: 'k1' })) });
    expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(result.status.details).toContain('signing keys');
    expect(harness.handled.get('Unary') ?? 0).toBe(0);
  } finally {
    await harness.close();
  }
});
