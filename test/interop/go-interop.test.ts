/**
 * weft next to Go services, as the estate runs them: Go programs of our own (test/interop/go),
 * built from Debian's Go packages, against a real etcd.
 * - A Go server registered with etcd's `naming/endpoints` manager is called through weft's
 *   `etcd:///` resolver, and reads the `traceparent` weft's client tracing sends.
 * - A weft server registered in the Go format is called by a Go client through etcd's own
 *   resolver; the Go client's `traceparent` is continued by weft's server span and echoed back.
 * - weft's server metrics and go-grpc-prometheus's, after the same call sequence, have the same
 *   families, HELP, TYPE, label sets, values and buckets, but for the exceptions asserted below.
 */
import { execFile } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { SpanKind } from '@opentelemetry/api';
import { clientInterceptors, serverInterceptors } from '@weft/core';
import {
  encodeGoEndpoint,
  registerEtcdResolver,
  registerService,
  type ServiceRegistration,
} from '@weft/etcd';
import { clientMetrics, serverMetrics } from '@weft/metrics';
import { clientTracing, serverTracing } from '@weft/tracing';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdServer, startEtcd } from '../../packages/etcd/test/etcd-server';
import { setupOtel, type TestOtel } from '../../packages/tracing/test/otel';
import {
  bidi,
  clientStream,
  type Harness,
  metadata,
  serverStream,
  startHarness,
  type TestServiceClient,
  testProto,
  unary,
} from '../harness';
import { binary, type Process, startProcess, waitUntil } from '../harness/servers';
import { type Family, families } from './families';
import { buildGoPrograms, goToolchain } from './go-programs';

const etcdBin = binary('etcd', 'etcd-server');
const toolchain = goToolchain();

interface GoServer {
  readonly proc: Process;
  /** gRPC `host:port`. */
  readonly address: string;
  /** `host:port` of its /metrics. */
  readonly metrics: string;
  /** The etcd key its endpoints.Manager wrote (empty when not registered). */
  readonly key: string;
}

/** What the Go client prints for each call. */
interface GoCall {
  traceId: string;
  spanId: string;
  echoedTraceId: string;
  message: string;
  code: string;
  details: string;
}

describe.runIf(etcdBin.run && toolchain.run)('interop with Go services (real etcd, Go programs)', () => {
  let bins: { server: string; client: string };
  let etcd: EtcdServer;
  let client: Etcd3;
  let otel: TestOtel;
  const procs: Process[] = [];
  const harnesses: Harness[] = [];
  const channels: grpc.Client[] = [];
  const registrations: ServiceRegistration[] = [];

  const startGoServer = async (args: string[]): Promise<GoServer> => {
    const proc = startProcess(bins.server, () => ['-etcd', etcd.endpoint, ...args]);
    procs.push(proc);
    let ready: Omit<GoServer, 'proc'> | undefined;
    const readyLine = () =>
      proc
        .output()
        .split('\n')
        .find((l) => l.startsWith('{'));
    await waitUntil(
      'the Go server to serve',
      async () => {
        const line = readyLine();
        if (line !== undefined) ready = JSON.parse(line) as Omit<GoServer, 'proc'>;
        return ready !== undefined;
      },
      20_000,
      proc,
    );
    if (ready === undefined) throw new Error('unreachable');
    return { proc, ...ready };
  };
  /** Runs the Go client to its end and resolves with what it printed. */
  const runGoClient = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) =>
      execFile(
        bins.client,
        ['-etcd', etcd.endpoint, ...args],
        { timeout: 30_000 },
        (error, stdout, stderr) =>
          error ? reject(new Error(`interop-client failed: ${error.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
  const goCalls = async (args: string[]): Promise<GoCall[]> =>
    (await runGoClient(args))
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as GoCall);
  const testClient = (target: string, options: grpc.ClientOptions = {}): TestServiceClient => {
    const c = new (testProto().weft.test.TestService)(target, grpc.credentials.createInsecure(), options);
    channels.push(c);
    return c;
  };
  const first = (md: grpc.Metadata | undefined, key: string) => md?.get(key)[0]?.toString();

  beforeAll(async () => {
    bins = await buildGoPrograms(toolchain);
    etcd = await startEtcd(etcdBin);
    client = etcd.client();
    otel = setupOtel();
    // Go's targets, as `endpoints.NewManager(c, "go-users")` names them: no prefix.
    registerEtcdResolver({ client, prefix: '', retryInitialMs: 100, onError: () => undefined });
  }, 600_000);
  afterAll(async () => {
    for (const c of channels) c.close();
    await Promise.all(registrations.map((r) => r.deregister().catch(() => undefined)));
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all(harnesses.map((h) => h.close()));
    await etcd?.stop();
  });

  it("calls a Go server registered with endpoints.NewManager through weft's etcd:/// resolver", async () => {
    const go = await startGoServer(['-target', 'go-users', '-name', 'go', '-ttl', '5']);
    // What Go's manager wrote, byte for byte what registerService writes in the Go format.
    expect(go.key).toBe(`go-users/${go.address}`);
    expect(await client.get(go.key).string()).toBe(encodeGoEndpoint(go.address));

    otel.reset();
    const users = testClient('etcd:///go-users', {
      interceptors: clientInterceptors({ tracing: clientTracing({ tracerProvider: otel.provider }) }),
    });
    const result = await unary(users, { message: 'from weft' }, { deadline: Date.now() + 10_000 });
    expect(result.status.code, result.status.details).toBe(grpc.status.OK);
    expect(result.responses[0]?.message).toBe('from weft');
    expect(first(result.headers, 'x-served-by')).toBe('go');
    // Go's propagator read the traceparent weft's client span wrote.
    const span = otel.spans().find((s) => s.kind === SpanKind.CLIENT);
    expect(first(result.headers, 'x-trace-id')).toBe(span?.spanContext().traceId);
    expect(first(result.headers, 'x-parent-span-id')).toBe(span?.spanContext().spanId);
  });

  it("is called by a Go client through etcd's resolver, continuing and echoing the Go trace", async () => {
    const weft = await startHarness({
      serverInterceptors: serverInterceptors({
        tracing: serverTracing({ tracerProvider: otel.provider, echoTraceId: true }),
      }),
    });
    harnesses.push(weft);
    const registration = registerService({
      client,
      service: 'node-users',
      address: weft.address,
      prefix: '',
      format: 'go-endpoints',
      ttl: 5,
    });
    registrations.push(registration);
    await registration.ready;

    otel.reset();
    const calls = await goCalls(['-target', 'node-users', '-calls', '3']);
    expect(calls.map((c) => [c.code, c.message])).toEqual([
      ['OK', 'go-0'],
      ['OK', 'go-1'],
      ['OK', 'go-2'],
    ]);
    const servers = otel.spans().filter((s) => s.kind === SpanKind.SERVER);
    expect(servers).toHaveLength(3);
    for (const call of calls) {
      expect(call.echoedTraceId).toBe(call.traceId);
      const span = servers.find((s) => s.spanContext().traceId === call.traceId);
      expect(span?.parentSpanContext?.spanId).toBe(call.spanId);
      expect(span?.parentSpanContext?.isRemote).toBe(true);
    }
  });

  it("shows the collision weft avoids: Go's resolver for node-users also picks node-users-admin", async () => {
    // A second weft server without trace echo, registered as a longer name: Go's resolver reads
    // the prefix `node-users` without a slash, so its calls reach this one too.
    const admin = await startHarness();
    harnesses.push(admin);
    await client.put(`node-users-admin/${admin.address}`).value(encodeGoEndpoint(admin.address));
    try {
      await waitUntil(
        'Go calls to reach both node-users and node-users-admin',
        async () => {
          const echoed = new Set(
            (await goCalls(['-target', 'node-users', '-calls', '6'])).map((c) => c.echoedTraceId !== ''),
          );
          return echoed.size === 2;
        },
        15_000,
      );
    } finally {
      await client.delete().key(`node-users-admin/${admin.address}`);
    }
  });

  it("needs the Go format: etcd's Go resolver crashes or fails on weft's document", async () => {
    const registration = registerService({ client, service: 'weft-doc', prefix: '', address: '127.0.0.1:1' });
    registrations.push(registration);
    await registration.ready;
    // Go's json.Unmarshal matches `metadata` to `Metadata` (case-insensitively): a map lands in
    // resolver.Address.Metadata, and grpc-go 1.33's round_robin uses addresses as map keys.
    await expect(runGoClient(['-target', 'weft-doc', '-timeout', '2s'])).rejects.toThrow(
      /hash of unhashable type map\[string\]interface/,
    );
    // pick_first gets Addr "" and dials nothing.
    const [call] = await goCalls(['-target', 'weft-doc', '-balancer', 'pick_first', '-timeout', '2s']);
    expect(call?.details).toMatch(/missing address/);
  });

  describe('metrics against go-grpc-prometheus', () => {
    /** Unary calls an interceptor after metrics refuses on their metadata. */
    const REFUSED = 2;
    const refuse: grpc.ServerInterceptor = (_method, call) =>
      new grpc.ServerInterceptingCall(call, {
        start(next) {
          next({
            onReceiveMetadata(md, mdNext) {
              if (md.get('x-refuse').length > 0)
                call.sendStatus({ code: grpc.status.PERMISSION_DENIED, details: 'refused' });
              else mdNext(md);
            },
          });
        },
      });
    const refused = () => ({ metadata: metadata({ 'x-refuse': '1' }) });

    /** One call of every shape and outcome, in order, each awaited: the same on both servers. */
    const sequence = async (c: TestServiceClient) => {
      const codes: number[] = [];
      const run = async (call: Promise<{ status: grpc.StatusObject }>) =>
        codes.push((await call).status.code);
      for (let i = 0; i < 3; i++) await run(unary(c, { message: `ok-${i}` }));
      for (const failCode of [3, 5, 5, 13, 14]) await run(unary(c, { message: 'fail', failCode }));
      for (let i = 0; i < REFUSED; i++) await run(unary(c, { message: 'no' }, refused()));
      await run(serverStream(c, { message: 's', count: 3 }));
      await run(serverStream(c, { message: 's', count: 4 }));
      await run(serverStream(c, { message: 's', count: 2, failCode: 9 }));
      await run(clientStream(c, [{ message: 'a' }, { message: 'b' }, { message: 'c' }]));
      await run(clientStream(c, [{ message: 'a' }, { message: 'b', failCode: 3 }]));
      await run(bidi(c, [{ message: 'a' }, { message: 'b' }, { message: 'c' }]));
      await run(bidi(c, [{ message: 'a' }, { message: 'b', failCode: 10 }]));
      return codes;
    };
    const EXPECTED_CODES = [0, 0, 0, 3, 5, 5, 13, 14, 7, 7, 0, 0, 9, 0, 3, 0, 10];
    const unaryKey = (metric: string) =>
      `${metric}{grpc_method="Unary",grpc_service="weft.test.TestService",grpc_type="unary"}`;

    /**
     * A family's samples by key, with the exceptions applied: timing values replaced by what can be
     * asserted about them, and `known` differences (sample key -> correction) put back.
     */
    const comparable = (
      family: Family,
      known: Record<string, (value: number) => number> = {},
    ): Record<string, number | string> => {
      const out: Record<string, number | string> = {};
      for (const [key, value] of family.samples) {
        const correct = known[key];
        if (/^grpc_(server|client)_handling_seconds_sum/.test(key)) out[key] = value >= 0 ? 'seconds' : value;
        else if (/^grpc_(server|client)_handling_seconds_bucket/.test(key) && !key.includes('le="+Inf"')) {
          // Which bucket a call lands in is timing (Go times the handler, weft the call from its
          // metadata to its status); that each bucket is within the count is not.
          const count =
            family.samples.get(key.replace('_bucket', '_count').replace(/,?le="[^"]*"/, '')) ?? -1;
          out[key] = value <= count ? 'within count' : value;
        } else out[key] = correct === undefined ? value : correct(value);
      }
      return out;
    };
    /** Same names, HELP, TYPE and samples (after `comparable`), family by family. */
    const expectSameFamilies = (
      go: Map<string, Family>,
      weft: Map<string, Family>,
      known: Record<string, (value: number) => number>,
    ) => {
      expect([...weft.keys()].sort()).toEqual([...go.keys()].sort());
      expect(go.size).toBe(5); // started, handled, msg_received, msg_sent, handling_seconds
      for (const [name, goFamily] of go) {
        const weftFamily = weft.get(name) as Family;
        expect({ name, help: weftFamily.help, type: weftFamily.type }).toEqual({
          name,
          help: goFamily.help,
          type: goFamily.type,
        });
        expect(comparable(weftFamily, known)).toEqual(comparable(goFamily));
      }
    };

    it('has the same server families, HELP, TYPE, labels, values and buckets after the same calls', async () => {
      const go = await startGoServer(['-name', 'go-metrics']);
      const metrics = serverMetrics();
      const weft = await startHarness({
        serverInterceptors: serverInterceptors({ metrics, extra: [refuse] }),
      });
      harnesses.push(weft);
      metrics.initialize(testProto().weft.test.TestService.service); // InitializeMetrics' twin

      expect(await sequence(testClient(go.address))).toEqual(EXPECTED_CODES);
      expect(await sequence(testClient(weft.address))).toEqual(EXPECTED_CODES);

      const goFamilies = families(await (await fetch(`http://${go.metrics}/metrics`)).text(), 'grpc_server_');
      const weftFamilies = families(await metrics.registry.metrics(), 'grpc_server_');
      // Known difference 1: grpc-go decodes a unary request before any interceptor runs, so
      // go-grpc-prometheus counts a message for a call refused on its metadata; weft counts the
      // messages that were read, and a refused call's never is.
      const received = unaryKey('grpc_server_msg_received_total');
      expectSameFamilies(goFamilies, weftFamilies, { [received]: (value) => value + REFUSED });
      // The exception is real and exactly the refused calls: Go counted them, weft did not.
      expect(goFamilies.get('grpc_server_msg_received_total')?.samples.get(received)).toBe(8 + REFUSED);
      expect(weftFamilies.get('grpc_server_msg_received_total')?.samples.get(received)).toBe(8);
    });

    it("has the same client families after the same unary calls, but for Go's msg_received quirk", async () => {
      const server = await startHarness();
      harnesses.push(server);
      const goText = await runGoClient(['-addr', server.address]);
      const metrics = clientMetrics();
      const c = testClient(server.address, { interceptors: clientInterceptors({ metrics }) });
      // What interop-client's unarySequence calls, in the same order.
      for (let i = 0; i < 3; i++) await unary(c, { message: `ok-${i}` });
      for (const failCode of [3, 5, 5, 13, 14]) await unary(c, { message: 'fail', failCode });

      const goFamilies = families(goText, 'grpc_client_');
      const weftFamilies = families(await metrics.registry.metrics(), 'grpc_client_');
      // Known difference 2: go-grpc-prometheus's unary client interceptor counts a received
      // message when the call FAILS (`if err != nil { monitor.ReceivedMessage() }`) and none when
      // it succeeds; weft counts the response each successful call received.
      const received = unaryKey('grpc_client_msg_received_total');
      expectSameFamilies(goFamilies, weftFamilies, { [received]: () => 5 });
      expect(goFamilies.get('grpc_client_msg_received_total')?.samples.get(received)).toBe(5); // the failures
      expect(weftFamilies.get('grpc_client_msg_received_total')?.samples.get(received)).toBe(3); // the responses
    });
  });
});
