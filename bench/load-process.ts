/**
 * The load side of the benchmark, in its own process: a grpc-js client (with a client variant's
 * interceptors) drives `calls` calls at `concurrency` against a server and reports throughput,
 * latency percentiles and its own CPU time.
 */
import * as grpc from '@grpc/grpc-js';
import type { TestServiceClient } from '../test/generated/weft/test/TestService';
import { clientVariants, referenceCallOptions } from './client-variants';
import { loadEchoProto, thisNode, type Workload } from './proto';

export interface LoadRequest {
  type: 'run';
  port: number;
  workload: Workload;
  calls: number;
  concurrency: number;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token: string;
}

export interface LoadResult {
  type: 'result';
  calls: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
  cpuMicros: number;
}

const clients = new Map<number, TestServiceClient>();
const variant = process.argv[2] ?? 'bare';
const interceptors = clientVariants[variant]?.();
if (interceptors === undefined) throw new Error(`unknown client variant "${variant}"`);
const callOptions = referenceCallOptions[variant];

function clientFor(port: number): TestServiceClient {
  let client = clients.get(port);
  if (client === undefined) {
    const proto = loadEchoProto();
    client = new proto.weft.test.TestService(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      interceptors,
    });
    clients.set(port, client);
  }
  return client;
}

function once(client: TestServiceClient, workload: Workload, authorization: string): Promise<boolean> {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', authorization);
  return new Promise((resolve) => {
    if (workload === 'unary') {
      const done = (error: grpc.ServiceError | null) => resolve(error === null);
      if (callOptions === undefined) client.Unary({ message: 'ping' }, metadata, done);
      else client.Unary({ message: 'ping' }, metadata, callOptions(), done);
      return;
    }
    const stream = client.ServerStream({ message: 'ping', count: 10 }, metadata);
    stream.on('data', () => {});
    stream.on('error', () => resolve(false));
    stream.on('end', () => resolve(true));
  });
}

async function run(request: LoadRequest): Promise<LoadResult> {
  const client = clientFor(request.port);
  const authorization = `Bearer ${request.token}`;
  const latencies = new Float64Array(request.calls);
  let next = 0;
  let errors = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const worker = async () => {
    while (next < request.calls) {
      const i = next++;
      const t0 = performance.now();
      if (!(await once(client, request.workload, authorization))) errors++;
      latencies[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: request.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort();
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    type: 'result',
    calls: request.calls,
    errors,
    seconds,
    p50: at(0.5),
    p99: at(0.99),
    cpuMicros: cpu.user + cpu.system,
  };
}

process.on('message', (m: LoadRequest | { type: 'stop' }) => {
  if (m.type === 'stop') {
    for (const c of clients.values()) c.close();
    process.exit(0);
  }
  void run(m).then((result) => process.send?.(result));
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready', port: 0, node: thisNode() });
