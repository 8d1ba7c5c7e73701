import * as grpc from '@grpc/grpc-js';
import { CODE_NAMES } from '@weft/core';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bidi,
  clientStream,
  type Harness,
  serverStream,
  startHarness,
  testProto,
  unary,
} from '../../../test/harness';
import { clientMetrics, serverMetrics } from '../src/index';
import { parse, type Sample, value } from './exposition';

const SERVICE = 'weft.test.TestService';

/** Calls `n` distinct methods no server serves (`/evil.Service/M<i>`), each once, and waits for all. */
async function callUnknownMethods(client: grpc.Client, n: number): Promise<void> {
  await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<void>((resolve) => {
          client.makeUnaryRequest(
            `/evil.Service/M${i}`,
            (x: Buffer) => x,
            (x: Buffer) => x,
            Buffer.alloc(0),
            () => resolve(),
          );
        }),
    ),
  );
}
const base = (method: string, type: string) => ({
  grpc_service: SERVICE,
  grpc_method: method,
  grpc_type: type,
});

describe('serverMetrics and clientMetrics', () => {
  let harness: Harness;
  const registry = new Registry();
  beforeAll(async () => {
    harness = await startHarness({
      serverInterceptors: [serverMetrics({ registry })],
      clientInterceptors: [clientMetrics({ registry })],
    });
    await unary(harness.client, { message: 'a' });
    await unary(harness.client, { message: 'b' });
    await serverStream(harness.client, { count: 5 });
    await clientStream(harness.client, [{}, {}, {}]);
    await bidi(harness.client, [{}, {}]);
    for (let code = 1; code <= 16; code++) await unary(harness.client, { failCode: code }, {}, 'Fail');
  });
  afterAll(() => harness.close());

  const scrape = async (): Promise<Sample[]> => parse(await registry.metrics());

  it.each(['server', 'client'])(
    'counts each call shape on the %s as go-grpc-prometheus does',
    async (side) => {
      const s = await scrape();
      const p = `grpc_${side}_`;
      const sent = side === 'server' ? 'msg_sent' : 'msg_received';
      const received = side === 'server' ? 'msg_received' : 'msg_sent';
      const cases: [string, string, number, number, number][] = [
        // method, type, calls, messages from client, messages from server
        ['Unary', 'unary', 2, 2, 2],
        ['ServerStream', 'server_stream', 1, 1, 5],
        ['ClientStream', 'client_stream', 1, 3, 1],
        ['Bidi', 'bidi_stream', 1, 2, 2],
      ];
      for (const [method, type, calls, fromClient, fromServer] of cases) {
        const labels = base(method, type);
        expect(value(s, `${p}started_total`, labels), method).toBe(calls);
        expect(value(s, `${p}handled_total`, { ...labels, grpc_code: 'OK' }), method).toBe(calls);
        expect(value(s, `${p}${received}_total`, labels), method).toBe(fromClient);
        expect(value(s, `${p}${sent}_total`, labels), method).toBe(fromServer);
        expect(value(s, `${p}handling_seconds_count`, labels), method).toBe(calls);
        expect(value(s, `${p}handling_seconds_bucket`, { ...labels, le: '+Inf' }), method).toBe(calls);
        expect(value(s, `weft_${side}_in_flight_calls`, labels), method).toBe(0);
      }
    },
  );

  it.each(['server', 'client'])('records every status code by its Go name on the %s', async (side) => {
    const s = await scrape();
    const labels = base('Fail', 'unary');
    for (let code = 1; code <= 16; code++) {
      expect(
        value(s, `grpc_${side}_handled_total`, { ...labels, grpc_code: CODE_NAMES[code] as string }),
        CODE_NAMES[code],
      ).toBe(1);
    }
    expect(value(s, `grpc_${side}_handled_total`, { ...labels, grpc_code: 'OK' })).toBeUndefined();
    expect(value(s, `grpc_${side}_started_total`, labels)).toBe(16);
    // A failed unary call sends no response message.
    expect(value(s, `grpc_${side}_${side === 'server' ? 'msg_sent' : 'msg_received'}_total`, labels)).toBe(0);
  });

  it('has cumulative buckets with the default go-grpc-prometheus bounds', async () => {
    const s = await scrape();
    const buckets = s.filter(
      (x) => x.name === 'grpc_server_handling_seconds_bucket' && x.labels.grpc_method === 'Unary',
    );
    expect(buckets.map((b) => b.labels.le)).toEqual([
      '0.005',
      '0.01',
      '0.025',
      '0.05',
      '0.1',
      '0.25',
      '0.5',
      '1',
      '2.5',
      '5',
      '10',
      '+Inf',
    ]);
    for (let i = 1; i < buckets.length; i++)
      expect(buckets[i]?.value).toBeGreaterThanOrEqual(buckets[i - 1]?.value ?? 0);
  });
});

describe('metrics options', () => {
  it('pre-initializes every method and code of a service with zero', async () => {
    const metrics = serverMetrics();
    metrics.initialize(testProto().weft.test.TestService.service);
    const s = parse(await metrics.registry.metrics());
    expect(value(s, 'grpc_server_started_total', base('Bidi', 'bidi_stream'))).toBe(0);
    expect(
      value(s, 'grpc_server_handled_total', { ...base('Sleep', 'unary'), grpc_code: 'Unavailable' }),
    ).toBe(0);
    expect(s.filter((x) => x.name === 'grpc_server_handled_total').length).toBe(6 * 17);
  });

  it('applies prefix, const labels, buckets and bounded context labels', async () => {
    let n = 0;
    const metrics = serverMetrics({
      prefix: 'app_',
      constLabels: { region: 'eu' },
      buckets: [0.5, 0.1],
      contextLabels: [{ name: 'tenant', value: () => `t${n++}`, maxValues: 3 }],
    });
    const harness = await startHarness({ serverInterceptors: [metrics] });
    try {
      for (let i = 0; i < 6; i++) await unary(harness.client, {});
    } finally {
      await harness.close();
    }
    const s = parse(await metrics.registry.metrics());
    const started = s.filter((x) => x.name === 'app_grpc_server_started_total');
    expect(started.map((x) => [x.labels.tenant, x.value])).toEqual([
      ['t0', 1],
      ['t1', 1],
      ['t2', 1],
      ['other', 3],
    ]);
    expect(started.every((x) => x.labels.region === 'eu')).toBe(true);
    const les = s
      .filter((x) => x.name === 'app_grpc_server_handling_seconds_bucket' && x.labels.tenant === 't0')
      .map((x) => x.labels.le);
    expect(les).toEqual(['0.1', '0.5', '+Inf']);
  });

  it('reads context labels after the inner layers ran (a subject set by auth)', async () => {
    const { subjectKey, stagedInterceptor } = await import('@weft/core');
    const metrics = serverMetrics({
      contextLabels: [{ name: 'subject', value: (ctx) => ctx.get(subjectKey) }],
    });
    // A stand-in for auth, inside metrics: sets the subject when the metadata arrives.
    const auth = stagedInterceptor({
      start: (call) => ({
        onReceiveMetadata(md) {
          call.context.set(subjectKey, String(md.get('x-sub')[0]));
        },
      }),
    });
    const harness = await startHarness({ serverInterceptors: [metrics, auth] });
    try {
      for (const sub of ['alice', 'alice', 'bob']) {
        const md = new grpc.Metadata();
        md.set('x-sub', sub);
        await unary(harness.client, {}, { metadata: md });
      }
    } finally {
      await harness.close();
    }
    const s = parse(await metrics.registry.metrics());
    expect(value(s, 'grpc_server_started_total', { subject: 'alice' })).toBe(2);
    expect(value(s, 'grpc_server_handled_total', { subject: 'bob', grpc_code: 'OK' })).toBe(1);
    expect(value(s, 'grpc_server_msg_received_total', { subject: 'alice' })).toBe(2);
  });

  it('refuses reserved or invalid label names and de-duplicates buckets', async () => {
    expect(() => serverMetrics({ constLabels: { grpc_code: 'x' } })).toThrow('grpc_code');
    expect(() => serverMetrics({ contextLabels: [{ name: 'bad-name', value: () => '' }] })).toThrow(
      'bad-name',
    );
    const metrics = serverMetrics({ buckets: [1, 0.5, 1] });
    const harness = await startHarness({ serverInterceptors: [metrics] });
    try {
      await unary(harness.client, {});
    } finally {
      await harness.close();
    }
    const les = parse(await metrics.registry.metrics())
      .filter((x) => x.name === 'grpc_server_handling_seconds_bucket')
      .map((x) => x.labels.le);
    expect(les).toEqual(['0.5', '1', '+Inf']);
  });

  it('keeps client series bounded under a flood of unknown methods', async () => {
    const metrics = clientMetrics({ maxMethods: 5 });
    const harness = await startHarness({ clientInterceptors: [metrics] });
    const client = new grpc.Client(harness.address, grpc.credentials.createInsecure(), {
      interceptors: [metrics],
    });
    try {
      await callUnknownMethods(client, 200);
    } finally {
      client.close();
      await harness.close();
    }
    const s = parse(await metrics.registry.metrics());
    const started = s.filter((x) => x.name === 'grpc_client_started_total');
    expect(started.length).toBe(6);
    expect(value(s, 'grpc_client_started_total', { grpc_service: 'other', grpc_method: 'other' })).toBe(195);
    expect(value(s, 'grpc_client_handled_total', { grpc_service: 'other', grpc_code: 'Unimplemented' })).toBe(
      195,
    );
  });

  it('leaves methods the server does not serve out of server metrics', async () => {
    const metrics = serverMetrics();
    const harness = await startHarness({ serverInterceptors: [metrics] });
    const client = new grpc.Client(harness.address, grpc.credentials.createInsecure());
    try {
      await callUnknownMethods(client, 50);
    } finally {
      client.close();
      await harness.close();
    }
    expect(
      parse(await metrics.registry.metrics()).filter((x) => x.labels.grpc_service === 'evil.Service'),
    ).toEqual([]);
  });
});
