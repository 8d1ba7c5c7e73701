/**
 * gRFC A66 instruments against an in-memory MeterProvider, over real calls. The tables below are
 * copied from the gRFC texts (grpc/proposal A66-otel-stats.md and A96-retry-otel-stats.md), not
 * from the source, so a drift on either side fails here.
 */
import * as grpc from '@grpc/grpc-js';
import { DataPointType } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, SHAPES, startHarness, testProto, unary } from '../../../test/harness';
import { canonicalTarget, grpcOtelClientMetrics, grpcOtelServerMetrics } from '../src/index';
import { counterAt, histogramAt, testMeters } from './grpc-otel';

const LATENCY = [
  0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01,
  0.013, 0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65,
  0.8, 1, 2, 5, 10, 20, 50, 100,
];
const SIZE = [
  0, 1024, 2048, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864, 268435456, 1073741824,
  4294967296,
];

// name, type, unit, description (A66: the first sentence where the gRFC goes on about timestamps), buckets
const A66: [string, 'Counter' | 'Histogram', string, string, number[] | undefined][] = [
  [
    'grpc.client.attempt.started',
    'Counter',
    '{attempt}',
    'The total number of RPC attempts started, including those that have not completed.',
    undefined,
  ],
  [
    'grpc.client.attempt.duration',
    'Histogram',
    's',
    'End-to-end time taken to complete an RPC attempt including the time it takes to pick a subchannel.',
    LATENCY,
  ],
  [
    'grpc.client.attempt.sent_total_compressed_message_size',
    'Histogram',
    'By',
    'Total bytes (compressed but not encrypted) sent across all request messages (metadata excluded) per RPC attempt; does not include grpc or transport framing bytes.',
    SIZE,
  ],
  [
    'grpc.client.attempt.rcvd_total_compressed_message_size',
    'Histogram',
    'By',
    'Total bytes (compressed but not encrypted) received across all response messages (metadata excluded) per RPC attempt; does not include grpc or transport framing bytes.',
    SIZE,
  ],
  [
    'grpc.client.call.duration',
    'Histogram',
    's',
    'This metric aims to measure the end-to-end time the gRPC library takes to complete an RPC from the application’s perspective.',
    LATENCY,
  ],
  [
    'grpc.server.call.started',
    'Counter',
    '{call}',
    'The total number of RPCs started, including those that have not completed.',
    undefined,
  ],
  [
    'grpc.server.call.sent_total_compressed_message_size',
    'Histogram',
    'By',
    'Total bytes (compressed but not encrypted) sent across all response messages (metadata excluded) per RPC; does not include grpc or transport framing bytes.',
    SIZE,
  ],
  [
    'grpc.server.call.rcvd_total_compressed_message_size',
    'Histogram',
    'By',
    'Total bytes (compressed but not encrypted) received across all request messages (metadata excluded) per RPC; does not include grpc or transport framing bytes.',
    SIZE,
  ],
  [
    'grpc.server.call.duration',
    'Histogram',
    's',
    'This metric aims to measure the end2end time an RPC takes from the server transport’s (HTTP2/ inproc) perspective.',
    LATENCY,
  ],
];

const SERVICE = 'weft.test.TestService';
const hello = { message: 'hello' };
// Serialized sizes worked out by hand from test.proto: `message` is tag + length + bytes, a set
// int32 2 bytes, an empty string 2, an empty map nothing. `sent` is what the client writes and
// `rcvd` what the server writes: the bytes on the wire. The receiving side measures the decoded
// message serialized again, and the harness decodes with proto-loader's `defaults: true`, which
// sets every absent field: a request comes back 8 bytes larger (count, fail_code, sleep_ms,
// fail_message), a unary response 2 (index). The README says so.
const SIZES = {
  unary: { method: 'Unary', sent: 7, rcvd: 7, decodedRequest: 15, decodedResponse: 9 },
  server_stream: { method: 'ServerStream', sent: 7, rcvd: 3 * 9, decodedRequest: 15, decodedResponse: 27 },
  client_stream: {
    method: 'ClientStream',
    sent: 14,
    rcvd: 2 + 11 + 2,
    decodedRequest: 30,
    decodedResponse: 15,
  },
  bidi_stream: { method: 'Bidi', sent: 14, rcvd: 2 * 9, decodedRequest: 30, decodedResponse: 18 },
} as const;

describe('gRFC A66 metrics', () => {
  const meters = testMeters();
  const service = testProto().weft.test.TestService.service;
  let harness: Harness;
  let target: string;
  beforeAll(async () => {
    const client = grpcOtelClientMetrics({ meterProvider: meters.meterProvider, services: [service] });
    harness = await startHarness({
      serverInterceptors: [
        grpcOtelServerMetrics({ meterProvider: meters.meterProvider, services: [service] }),
      ],
      probe: () => ({}),
    });
    target = `dns:///${harness.address}`;
    const withTarget = grpcOtelClientMetrics({
      meterProvider: meters.meterProvider,
      services: [service],
      target: harness.address,
    });
    const c = harness.newClient({ interceptors: [withTarget] });
    for (const call of Object.values(SHAPES)) await call(c, hello);
    await unary(c, { failCode: grpc.status.NOT_FOUND }, {}, 'Fail');
    // A method outside `services`, through a client of its own with the other interceptor.
    const raw = new grpc.Client(harness.address, grpc.credentials.createInsecure(), {
      interceptors: [client],
    });
    await new Promise<void>((resolve) => {
      raw.makeUnaryRequest(
        '/weft.test.Unknown/Nope',
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.alloc(3),
        () => resolve(),
      );
    });
    raw.close();
  });
  afterAll(() => harness.close());

  it.each(A66)(
    'creates %s as the gRFC defines it (type, unit, description, buckets)',
    async (name, type, unit, description, buckets) => {
      const metric = (await meters.collect()).get(name);
      expect(metric?.descriptor.unit).toBe(unit);
      expect(metric?.descriptor.description).toBe(description);
      if (type === 'Counter') {
        expect(metric?.dataPointType).toBe(DataPointType.SUM);
        expect(metric?.dataPointType === DataPointType.SUM && metric.isMonotonic).toBe(true);
      } else {
        expect(metric?.dataPointType).toBe(DataPointType.HISTOGRAM);
        for (const p of metric?.dataPoints ?? []) {
          expect((p.value as { buckets: { boundaries: number[] } }).buckets.boundaries).toEqual(buckets);
        }
      }
    },
  );

  it.each(Object.entries(SIZES))(
    'records a %s call on both sides with grpc.method, grpc.status and message bytes',
    async (_shape, { method, sent, rcvd, decodedRequest, decodedResponse }) => {
      const m = await meters.collect();
      const server = { 'grpc.method': `${SERVICE}/${method}`, 'grpc.status': 'OK' };
      const client = { ...server, 'grpc.target': target };
      expect(counterAt(m.get('grpc.server.call.started'), { 'grpc.method': `${SERVICE}/${method}` })).toBe(1);
      expect(histogramAt(m.get('grpc.server.call.duration'), server)?.count).toBe(1);
      expect(histogramAt(m.get('grpc.server.call.rcvd_total_compressed_message_size'), server)?.sum).toBe(
        decodedRequest,
      );
      expect(histogramAt(m.get('grpc.server.call.sent_total_compressed_message_size'), server)?.sum).toBe(
        rcvd,
      );
      const base = { 'grpc.method': `${SERVICE}/${method}`, 'grpc.target': target };
      expect(counterAt(m.get('grpc.client.attempt.started'), base)).toBe(1);
      expect(histogramAt(m.get('grpc.client.attempt.duration'), client)?.count).toBe(1);
      expect(histogramAt(m.get('grpc.client.call.duration'), client)?.count).toBe(1);
      expect(histogramAt(m.get('grpc.client.attempt.sent_total_compressed_message_size'), client)?.sum).toBe(
        sent,
      );
      expect(histogramAt(m.get('grpc.client.attempt.rcvd_total_compressed_message_size'), client)?.sum).toBe(
        decodedResponse,
      );
    },
  );

  it('names the status as gRPC does (NOT_FOUND), on both sides', async () => {
    const m = await meters.collect();
    const failed = { 'grpc.method': `${SERVICE}/Fail`, 'grpc.status': 'NOT_FOUND' };
    expect(histogramAt(m.get('grpc.server.call.duration'), failed)?.count).toBe(1);
    expect(histogramAt(m.get('grpc.client.call.duration'), { ...failed, 'grpc.target': target })?.count).toBe(
      1,
    );
  });

  it('records a method outside the registered services as grpc.method="other"', async () => {
    const m = await meters.collect();
    const other = { 'grpc.method': 'other', 'grpc.status': 'UNIMPLEMENTED', 'grpc.target': 'unknown:///' };
    expect(histogramAt(m.get('grpc.client.call.duration'), other)?.count).toBe(1);
    const names = m.get('grpc.client.call.duration')?.dataPoints.map((p) => p.attributes['grpc.method']);
    expect(names).not.toContain('weft.test.Unknown/Nope');
  });

  it('creates no A96 retry instrument unless asked', () => {
    const names = [...meters.created.keys()];
    expect(names.filter((name) => name.includes('retr') || name.includes('hedge'))).toEqual([]);
    // ...and would have seen one: every A66 instrument was created through the same provider.
    expect(names.sort()).toEqual(A66.map(([name]) => name).sort());
  });
});

describe('gRFC A66 bounds and labels', () => {
  it('canonicalizes targets with their scheme (dns:/// when none)', () => {
    expect(canonicalTarget('localhost:50051')).toBe('dns:///localhost:50051');
    expect(canonicalTarget('127.0.0.1:1')).toBe('dns:///127.0.0.1:1');
    expect(canonicalTarget('dns:///users:443')).toBe('dns:///users:443');
    expect(canonicalTarget('etcd:///users')).toBe('etcd:///users');
    expect(canonicalTarget('unix:/tmp/s')).toBe('unix:/tmp/s');
  });

  it('records methods past maxMethods as other, and the A108 custom label from the call options', async () => {
    const meters = testMeters();
    const server = grpcOtelServerMetrics({ meterProvider: meters.meterProvider, maxMethods: 1 });
    const client = grpcOtelClientMetrics({
      meterProvider: meters.meterProvider,
      target: 'users:1',
      customLabel: (o) => (o as { tenant?: string }).tenant,
      maxCustomLabelValues: 2,
    });
    const harness = await startHarness({ serverInterceptors: [server], clientInterceptors: [client] });
    try {
      for (const tenant of ['a', 'b', 'c', undefined]) {
        await unary(harness.client, hello, { options: { tenant } as grpc.CallOptions });
      }
      await unary(harness.client, hello, {}, 'Sleep');
      const m = await meters.collect();
      const labels = m
        .get('grpc.client.call.duration')
        ?.dataPoints.map((p) => [p.attributes['grpc.method'], p.attributes['grpc.client.call.custom']]);
      // Two label values kept ('a', 'b'); 'c' and '' (no tenant) past the bound are `other`.
      expect(labels).toEqual(
        expect.arrayContaining([
          [`${SERVICE}/Unary`, 'a'],
          [`${SERVICE}/Unary`, 'b'],
          [`${SERVICE}/Unary`, 'other'],
          [`${SERVICE}/Sleep`, ''],
        ]),
      );
      expect(labels).toHaveLength(4);
      const started = m.get('grpc.server.call.started')?.dataPoints.map((p) => p.attributes['grpc.method']);
      expect(started).toEqual([`${SERVICE}/Unary`, 'other']);
      // No `services`: the client still measures what it sends (its own serializer), not what it receives.
      expect(
        m.get('grpc.client.attempt.sent_total_compressed_message_size')?.dataPoints.length,
      ).toBeGreaterThan(0);
      expect(m.get('grpc.client.attempt.rcvd_total_compressed_message_size')?.dataPoints ?? []).toEqual([]);
      expect(
        m
          .get('grpc.client.call.duration')
          ?.dataPoints.every((p) => p.attributes['grpc.target'] === 'dns:///users:1'),
      ).toBe(true);
    } finally {
      await harness.close();
    }
  });
});
