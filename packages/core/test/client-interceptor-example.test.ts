import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { startHarness, unary } from '../../../test/harness';
import { requestId } from './client-interceptor-example';

describe('README: Writing a client interceptor', () => {
  it('runs: the server gets the request id, and the report gets it with the status', async () => {
    const reports: [string, grpc.status][] = [];
    const harness = await startHarness({
      clientInterceptors: [requestId((id, status) => reports.push([id, status.code]))],
      handlers: {
        Unary(call, callback) {
          callback(null, { message: String(call.metadata.get('x-request-id')[0]) });
        },
      },
    });
    try {
      const result = await unary(harness.client, {});
      expect(result.status.code).toBe(grpc.status.OK);
      expect(reports).toEqual([[result.responses[0]?.message, grpc.status.OK]]);
      expect(reports[0]?.[0]).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await harness.close();
    }
  });
});
