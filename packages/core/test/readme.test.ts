import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, metadata, SHAPES, startHarness } from '../../../test/harness';
import { getCallContext } from '../src/index';
import { tenant, tenantKey } from './example/tenant';

describe('README: writing a server interceptor', () => {
  let harness: Harness | undefined;
  afterEach(async () => harness?.close());

  for (const [shape, run] of Object.entries(SHAPES)) {
    it(`runs the example: admits a call naming a tenant, refuses one without (${shape})`, async () => {
      harness = await startHarness({
        serverInterceptors: [tenant()],
        probe: () => ({ tenant: getCallContext()?.get(tenantKey) ?? 'none' }),
      });
      const admitted = await run(
        harness.client,
        { message: 'hi' },
        { metadata: metadata({ 'x-tenant': 'acme' }) },
      );
      expect(admitted.status.code).toBe(grpc.status.OK);
      expect(admitted.headers?.get('x-tenant')).toEqual(['acme']);
      expect(admitted.responses.length).toBeGreaterThan(0);
      for (const response of admitted.responses) expect(response.context).toEqual({ tenant: 'acme' });

      const refused = await run(harness.client, { message: 'hi' });
      expect(refused.status).toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        details: 'x-tenant is missing',
      });
      expect(refused.responses).toEqual([]);
      expect([...harness.handled.values()]).toEqual([1]);
    });
  }
});
