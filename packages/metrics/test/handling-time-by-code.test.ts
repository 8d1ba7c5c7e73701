/**
 * `handlingTimeByCode`: `grpc_code` on the handling-time histogram, so latency of successful calls
 * can be read alone (go-grpc-middleware #606); off, the histogram stays go-grpc-prometheus's.
 */
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness, testProto, unary } from '../../../test/harness';
import { clientMetrics, serverMetrics } from '../src/index';
import { parse, value } from './exposition';

const labels = { grpc_service: 'weft.test.TestService', grpc_type: 'unary' };

describe('handlingTimeByCode', () => {
  const byCode = new Registry();
  const plain = new Registry();
  let harness: Harness;
  beforeAll(async () => {
    const server = serverMetrics({ registry: byCode, handlingTimeByCode: true });
    server.initialize(testProto().weft.test.TestService.service);
    harness = await startHarness({
      serverInterceptors: [server, serverMetrics({ registry: plain })],
      clientInterceptors: [clientMetrics({ registry: byCode, handlingTimeByCode: true })],
    });
    await unary(harness.client, { message: 'a' });
    await unary(harness.client, { message: 'b' });
    await unary(harness.client, { failCode: grpc.status.NOT_FOUND }, {}, 'Unary');
  });
  afterAll(() => harness.close());

  it.each(['server', 'client'])('splits grpc_%s_handling_seconds by grpc_code', async (side) => {
    const s = parse(await byCode.metrics());
    const name = `grpc_${side}_handling_seconds`;
    const unaryLabels = { ...labels, grpc_method: 'Unary' };
    expect(value(s, `${name}_count`, { ...unaryLabels, grpc_code: 'OK' })).toBe(2);
    expect(value(s, `${name}_bucket`, { ...unaryLabels, grpc_code: 'OK', le: '+Inf' })).toBe(2);
    expect(value(s, `${name}_count`, { ...unaryLabels, grpc_code: 'NotFound' })).toBe(1);
    // Every histogram sample carries a code; in-flight calls still come out right.
    expect(s.filter((x) => x.name.startsWith(name) && x.labels.grpc_code === undefined)).toEqual([]);
    expect(value(s, `weft_${side}_in_flight_calls`, unaryLabels)).toBe(0);
  });

  it('initializes the OK histogram of every method, for OK-only latency rules before traffic', async () => {
    const s = parse(await byCode.metrics());
    const bidi = { ...labels, grpc_type: 'bidi_stream', grpc_method: 'Bidi', grpc_code: 'OK' };
    expect(value(s, 'grpc_server_handling_seconds_count', bidi)).toBe(0);
  });

  it('leaves grpc_code off the histogram by default (as go-grpc-prometheus)', async () => {
    const s = parse(await plain.metrics());
    const hist = s.filter((x) => x.name.startsWith('grpc_server_handling_seconds'));
    expect(hist.length).toBeGreaterThan(0);
    expect(hist.filter((x) => x.labels.grpc_code !== undefined)).toEqual([]);
    expect(value(s, 'grpc_server_handling_seconds_count', { ...labels, grpc_method: 'Unary' })).toBe(3);
  });
});
