/**
 * Replicas of the test service on 127.0.0.1 (real grpc-js servers from the shared harness), each
 * answering with its name, and clients balancing over them: a static `ipv4:` target (grpc-js's own
 * resolver) or `test-list:///<id>`, a resolver whose address list a test changes while the
 * channel lives (what etcd:/// does when replicas come and go).
 */
import * as grpc from '@grpc/grpc-js';
import {
  type Harness,
  metadata,
  startHarness,
  type TestServiceClient,
  testProto,
  unary,
} from '../../../test/harness';
import { type LoadReporting, loadReporting } from '../src/index';

export interface Replica {
  readonly name: string;
  readonly address: string;
  readonly harness: Harness;
}

export interface ReplicaOptions {
  /** Milliseconds each replica's Unary takes, by replica index. Default 0. */
  delayMs?: readonly number[];
  serverInterceptors?: (index: number) => grpc.ServerInterceptor[];
  serverOptions?: grpc.ServerOptions;
  /** Called with each server before it starts, e.g. to add the ORCA service. */
  setup?: (server: grpc.Server, index: number) => void;
}

/** Starts replicas `r0`, `r1`... on free ports. */
export async function startReplicas(count: number, options: ReplicaOptions = {}): Promise<Replica[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const name = `r${index}`;
      const delay = options.delayMs?.[index] ?? 0;
      const harness = await startHarness({
        serverInterceptors: options.serverInterceptors?.(index) ?? [],
        ...(options.serverOptions === undefined ? {} : { serverOptions: options.serverOptions }),
        probe: () => ({ replica: name }),
        handlers: {
          Unary(call, callback) {
            const answer = () =>
              callback(null, { message: call.request.message, context: { replica: name } });
            if (delay > 0) setTimeout(answer, delay);
            else answer();
          },
        },
      });
      options.setup?.(harness.server, index);
      return { name, address: harness.address, harness };
    }),
  );
}

export async function stopReplicas(replicas: readonly Replica[]): Promise<void> {
  await Promise.all(replicas.map((r) => r.harness.close()));
}

/**
 * Replicas reporting their load with `loadReporting()` (out of band, measured and sent every
 * 100 ms) as if each call cost replica i `costPerCallMs[i]` ms of its capacity: application
 * utilization is QPS x cost, so it grows with the load (a constant one would feed back: more
 * calls, more QPS, more weight), and weighted_round_robin's weight = qps / utilization is 1/cost.
 * Close the reporters as well as the replicas.
 */
export async function startReportingReplicas(costPerCallMs: readonly number[]) {
  const reporters: LoadReporting[] = [];
  const replicas = await startReplicas(costPerCallMs.length, {
    serverInterceptors: (index) => {
      const cost = (costPerCallMs[index] ?? 0) / 1000;
      const load = loadReporting({
        updatePeriodMs: 100,
        minReportIntervalMs: 100,
        applicationUtilization: (sample) => sample.qps * cost,
      });
      reporters[index] = load;
      return [load];
    },
    setup: (server, index) => reporters[index]?.addToServer(server),
  });
  return { replicas, reporters };
}

/** A client of the test service on `target` whose channel selects `policy` by service config. */
export function balancedClient(target: string, policy: object): TestServiceClient {
  return new (testProto().weft.test.TestService)(target, grpc.credentials.createInsecure(), {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [policy] }),
  });
}

/** `ipv4:127.0.0.1:p1,127.0.0.1:p2,...`: grpc-js's static resolver over the replicas' addresses. */
export function staticTarget(replicas: readonly Replica[]): string {
  return `ipv4:${replicas.map((r) => r.address).join(',')}`;
}

/** Which replica answered one Unary call (with `key` in `x-user-id` when given). */
export async function whoAnswers(client: TestServiceClient, key?: string): Promise<string> {
  const result = await unary(
    client,
    { message: key ?? '' },
    {
      ...(key === undefined ? {} : { metadata: metadata({ 'x-user-id': key }) }),
      deadline: Date.now() + 10_000,
    },
  );
  if (result.status.code !== grpc.status.OK) throw new Error(`call failed: ${result.status.details}`);
  return result.responses[0]?.context.replica ?? '?';
}

/** The keys whose replica differs between two mappings (of `mapKeys`), with where they went. */
export function moved(before: Map<string, string>, after: Map<string, string>) {
  const out: { key: string; from: string; to: string }[] = [];
  for (const [key, from] of before) {
    const to = after.get(key) as string;
    if (to !== from) out.push({ key, from, to });
  }
  return out;
}

/** Where each key goes: `keys` calls, `parallel` at a time. */
export async function mapKeys(client: TestServiceClient, keys: readonly string[], parallel = 50) {
  const owner = new Map<string, string>();
  for (let i = 0; i < keys.length; i += parallel) {
    const batch = keys.slice(i, i + parallel);
    const answers = await Promise.all(batch.map((key) => whoAnswers(client, key)));
    for (const [j, key] of batch.entries()) owner.set(key, answers[j] as string);
  }
  return owner;
}

/** Each replica's share of `total` calls made by `workers` loops calling at once. */
export async function shares(client: TestServiceClient, total: number, workers: number) {
  const counts = new Map<string, number>();
  let left = total;
  const loop = async () => {
    while (left > 0) {
      left--;
      const replica = await whoAnswers(client);
      counts.set(replica, (counts.get(replica) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
  const share = (name: string) => (counts.get(name) ?? 0) / total;
  return { counts, share };
}

/**
 * Each replica's share of `total` calls started one every `everyMs` whatever the answers do (open
 * loop, as real traffic arrives): a slow replica cannot slow the arrivals down, unlike `shares`.
 */
export async function pacedShares(client: TestServiceClient, total: number, everyMs: number) {
  const counts = new Map<string, number>();
  const calls: Promise<void>[] = [];
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      calls.push(
        whoAnswers(client).then((replica) => {
          counts.set(replica, (counts.get(replica) ?? 0) + 1);
        }),
      );
      if (calls.length === total) {
        clearInterval(timer);
        resolve();
      }
    }, everyMs);
  });
  await Promise.all(calls);
  const share = (name: string) => (counts.get(name) ?? 0) / total;
  return { counts, share };
}

// --- test-list:///<id>: a resolver the test feeds ---

type Listener = grpc.experimental.ResolverListener;
type ServiceConfig = grpc.ServiceConfig | null;
const lists = new Map<string, { addresses: string[]; config: ServiceConfig; listeners: Set<Listener> }>();

function entry(id: string) {
  let e = lists.get(id);
  if (e === undefined) {
    e = { addresses: [], config: null, listeners: new Set() };
    lists.set(id, e);
  }
  return e;
}

function report(listener: Listener, addresses: readonly string[], config: ServiceConfig): void {
  const endpoints = addresses.map((address) => {
    const [host, port] = address.split(':');
    return { addresses: [{ host: host as string, port: Number(port) }] };
  });
  const serviceConfig = config === null ? null : grpc.experimental.statusOrFromValue(config);
  listener(grpc.experimental.statusOrFromValue(endpoints), {}, serviceConfig, '');
}

class TestListResolver implements grpc.experimental.Resolver {
  private readonly id: string;
  constructor(
    target: grpc.experimental.GrpcUri,
    private readonly listener: Listener,
  ) {
    this.id = target.path.replace(/^\/+/, '');
  }
  updateResolution(): void {
    const e = entry(this.id);
    e.listeners.add(this.listener);
    const { addresses, config } = e;
    // Never synchronously with the constructor or updateResolution (the Resolver contract).
    setImmediate(() => report(this.listener, addresses, config));
  }
  destroy(): void {
    entry(this.id).listeners.delete(this.listener);
  }
  static getDefaultAuthority(target: grpc.experimental.GrpcUri): string {
    return target.path.replace(/^\/+/, '');
  }
}

grpc.experimental.registerResolver('test-list', TestListResolver);

/**
 * Sets the address list of `test-list:///<id>` (and the service config it hands out with it, none
 * by default: then the channel's own applies) and hands them to every channel resolving it.
 */
export function setAddresses(id: string, addresses: readonly string[], config: ServiceConfig = null): void {
  const e = entry(id);
  e.addresses = [...addresses];
  e.config = config;
  for (const listener of e.listeners) report(listener, e.addresses, config);
}
