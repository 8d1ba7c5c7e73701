/**
 * The client of the balancing benchmark, in its own process: channels to `etcd:///balance-bench`
 * (weft's etcd resolver, handing each channel the policy under test as its service config) and
 * open-loop load through them (open-loop.ts: paced arrivals, deadlines and latencies from each
 * call's due time).
 * `argv[2]`: the etcd endpoint.
 */
import * as grpc from '@grpc/grpc-js';
import { balancingServiceConfig, type LoadBalancingConfig } from '@weft/balancing';
import { registerEtcdResolver } from '@weft/etcd';
import { Etcd3 } from 'etcd3';
import { KEY_HEADER, KEYED, MEASURED, SERVICE, WARMUP } from './balance-config';
import { openLoop, percentile } from './open-loop';
import { loadEchoProto } from './proto';

export type LoadRequest =
  | { type: 'open'; id: number; channel: string; policy: LoadBalancingConfig }
  | {
      type: 'run';
      id: number;
      channel: string;
      rate: number;
      /** Sent first at the same rate and not measured: the channel connects, the policy settles. */
      warmupSeconds: number;
      seconds: number;
      deadlineMs: number;
      /** When > 0, every call carries one of this many keys (`u0`...) in KEY_HEADER, drawn at random. */
      keys: number;
    }
  | { type: 'keys'; id: number; channel: string; count: number; concurrency: number }
  | { type: 'close'; id: number; channel: string }
  | { type: 'stop'; id: number };

export interface RunResult {
  type: 'run';
  id: number;
  /** Measured calls (warm-up excluded). */
  calls: number;
  ok: number;
  /** Failed calls by status code name. */
  errors: Record<string, number>;
  /** Latency of every measured call, failed ones included (a deadline counts at about its length), ms. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** OK answers by the replica that gave them. */
  answeredBy: Record<string, number>;
  /** With keys: how many keys were seen, and how many were answered by more than one replica. */
  keysSeen: number;
  keysOnSeveralReplicas: number;
  /** How far behind schedule the generator fell at worst, ms. */
  maxLagMs: number;
}

export interface KeysResult {
  type: 'keys';
  id: number;
  /** The replica that answered key `u<i>`, or `error:<code>`. */
  replicas: string[];
}

type EchoClient = grpc.Client & {
  Unary(
    request: { message: string },
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: { message: string }) => void,
  ): grpc.ClientUnaryCall;
};

const etcd = new Etcd3({ hosts: process.argv[2] ?? '' });
const channels = new Map<string, EchoClient>();

/**
 * A channel to `etcd:///<SERVICE>` whose resolver hands it `policy`. Registering the scheme again
 * replaces the resolver's options for channels created afterwards; open channels keep theirs.
 */
function open(name: string, policy: LoadBalancingConfig): void {
  registerEtcdResolver({ client: etcd, serviceConfig: balancingServiceConfig(policy) });
  const proto = loadEchoProto();
  const client = new proto.weft.test.TestService(`etcd:///${SERVICE}`, grpc.credentials.createInsecure());
  channels.set(name, client as unknown as EchoClient);
}

function channel(name: string): EchoClient {
  const client = channels.get(name);
  if (client === undefined) throw new Error(`no channel "${name}"`);
  return client;
}

const codeName = (code: number) => grpc.status[code] ?? String(code);

function run(req: Extract<LoadRequest, { type: 'run' }>): Promise<RunResult> {
  const client = channel(req.channel);
  const warmup = Math.round(req.rate * req.warmupSeconds);
  const total = warmup + Math.round(req.rate * req.seconds);
  const latencies = new Float64Array(total - warmup);
  const errors: Record<string, number> = {};
  const answeredBy: Record<string, number> = {};
  const keyReplica = new Map<string, string>();
  const severalReplicas = new Set<string>();
  let measured = 0;
  let ok = 0;
  let done = 0;
  return new Promise((resolve) => {
    const finish = () => {
      const sorted = latencies.subarray(0, measured).sort();
      resolve({
        type: 'run',
        id: req.id,
        calls: measured,
        ok,
        errors,
        p50: percentile(sorted, 0.5),
        p90: percentile(sorted, 0.9),
        p99: percentile(sorted, 0.99),
        max: percentile(sorted, 1),
        answeredBy,
        keysSeen: keyReplica.size,
        keysOnSeveralReplicas: severalReplicas.size,
        maxLagMs: loop.maxLagMs(),
      });
    };
    const loop = openLoop(req.rate, total, req.deadlineMs, (i, deadline) => {
      const isMeasured = i >= warmup;
      const metadata = new grpc.Metadata();
      const key = req.keys > 0 ? `u${Math.floor(Math.random() * req.keys)}` : undefined;
      if (key !== undefined) metadata.set(KEY_HEADER, key);
      const message = isMeasured ? MEASURED : WARMUP;
      client.Unary({ message }, metadata, { deadline }, (error, response) => {
        if (isMeasured) {
          latencies[measured++] = loop.sinceDue(i);
          if (error === null && response !== undefined) {
            ok++;
            answeredBy[response.message] = (answeredBy[response.message] ?? 0) + 1;
            if (key !== undefined) {
              const before = keyReplica.get(key);
              if (before === undefined) keyReplica.set(key, response.message);
              else if (before !== response.message) severalReplicas.add(key);
            }
          } else {
            const name = codeName(error?.code ?? grpc.status.UNKNOWN);
            errors[name] = (errors[name] ?? 0) + 1;
          }
        }
        if (++done === total) finish();
      });
    });
  });
}

/** Which replica answers each of keys `u0`..`u<count-1>`, `concurrency` calls at a time. */
function keys(req: Extract<LoadRequest, { type: 'keys' }>): Promise<KeysResult> {
  const client = channel(req.channel);
  const replicas = new Array<string>(req.count).fill('');
  let next = 0;
  let done = 0;
  return new Promise((resolve) => {
    const ask = () => {
      const i = next++;
      if (i >= req.count) return;
      const metadata = new grpc.Metadata();
      metadata.set(KEY_HEADER, `u${i}`);
      const deadline = new Date(Date.now() + 10_000);
      client.Unary({ message: KEYED }, metadata, { deadline }, (error, response) => {
        replicas[i] =
          error === null && response !== undefined
            ? response.message
            : `error:${codeName(error?.code ?? grpc.status.UNKNOWN)}`;
        if (++done === req.count) resolve({ type: 'keys', id: req.id, replicas });
        else ask();
      });
    };
    for (let c = 0; c < Math.min(req.concurrency, req.count); c++) ask();
  });
}

async function handle(m: LoadRequest): Promise<unknown> {
  switch (m.type) {
    case 'open':
      open(m.channel, m.policy);
      return { type: 'open', id: m.id };
    case 'run':
      return run(m);
    case 'keys':
      return keys(m);
    case 'close':
      channel(m.channel).close();
      channels.delete(m.channel);
      return { type: 'close', id: m.id };
    case 'stop':
      for (const client of channels.values()) client.close();
      etcd.close();
      process.exit(0);
  }
}

process.on('message', (m: LoadRequest) => {
  handle(m).then(
    (reply) => process.send?.(reply),
    (error: Error) => process.send?.({ type: 'error', id: m.id, message: error.message }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready', node: process.version });
