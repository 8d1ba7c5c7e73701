import * as grpc from '@grpc/grpc-js';
import { jwtAuth } from '@weft/auth';
import { serverInterceptors } from '@weft/core';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, metadata, startHarness, unary } from '../../../test/harness';
import { rateLimit } from '../src/index';

const SECRET = 'subject-limit-test-secret-0123456789';
const bearer = (sub: string) =>
  metadata({ authorization: `Bearer ${jwt.sign({ sub }, SECRET, { algorithm: 'HS256', expiresIn: 60 })}` });

describe('rateLimit keyed on the authenticated subject', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      serverInterceptors: serverInterceptors({
        auth: jwtAuth({ keys: { secret: SECRET }, algorithms: ['HS256'] }),
        rateLimit: rateLimit({ rules: [{ name: 'per-subject', rate: 0.001, burst: 2, key: 'subject' }] }),
      }),
    });
  });
  afterAll(() => harness.close());

  it('gives each subject from jwtAuth its own bucket, whatever its peer', async () => {
    const alice = bearer('alice');
    const bob = bearer('bob');
    const codes = async (md: grpc.Metadata, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await unary(harness.client, {}, { metadata: md })).status.code);
      return out;
    };
    expect(await codes(alice, 3)).toEqual([grpc.status.OK, grpc.status.OK, grpc.status.RESOURCE_EXHAUSTED]);
    // Same connection, same peer: only the subject differs.
    expect(await codes(bob, 2)).toEqual([grpc.status.OK, grpc.status.OK]);
  });
});
