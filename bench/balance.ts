/**
 * `npm run bench:balance` (issue 20): how each balancing policy treats a slow replica. A real etcd
 * (Debian's), three replica processes (balance-server.ts) that register in it, one of them slow
 * (each call holds a worker SLOW_MS instead of FAST_MS, so it has a tenth of the capacity), and a
 * client process (balance-load.ts) that dials `etcd:///balance-bench` and offers open-loop load
 * through a fresh channel per policy. Reports each replica's share of the calls, the client's
 * p50/p99 and OK rate per policy (medians over `--rounds`, policies interleaved), and for
 * consistent_hash whether keys stay put and how many move when a fourth replica registers.
 * Writes bench/results/balance.json and the table in bench/README.md (between the `balance`
 * markers), and prints both.
 *
 * `--quick`: short windows, one round, fewer keys (a smoke run under a minute that judges nothing
 * and writes only bench/results/balance-quick.json). `--node <path|line>`: the Node the replicas
 * and the client run on (default Node 24, see node-binary.ts). `--out <file>`: write the JSON
 * there and leave the README alone (experiments, the smoke test). `--render`: rewrite the README
 * section from bench/results/balance.json without measuring.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadBalancingConfig } from '@weft/balancing';
import { type Child, startChild, startEtcd, stopChild, stopChildren } from './balance-children';
import {
  DEADLINE_MS,
  FAST_MS,
  KEY_HEADER,
  MEASURED,
  POOL,
  RATE,
  REPORT_PERIOD_MS,
  type ReplicaReady,
  type ReplicaStats,
  SERVICE,
  SLOW_MS,
  UTILIZATION,
  WARMUP,
} from './balance-config';
import type { KeysResult, LoadRequest, RunResult } from './balance-load';
import {
  type MembershipResult,
  type PolicyRow,
  pct,
  type RunData,
  renderTables,
  round,
  writeReadmeSection,
} from './balance-report';
import { benchNode, describeNode } from './node-binary';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    node: { type: 'string' },
    render: { type: 'boolean', default: false },
    /**
     * Where the results JSON goes; then the README is left alone. Default
     * bench/results/balance.json (balance-quick.json with --quick).
     */
    out: { type: 'string' },
  },
});
const quick = values.quick;
const ROUNDS = Number(values.rounds ?? (quick ? 1 : 3));
const WARMUP_SECONDS = quick ? 2.5 : 4;
const MEASURE_SECONDS = quick ? 2.5 : 8;
/** Users the keyed load draws from, and keys the consistent-hash membership check maps. */
const KEYS = quick ? 300 : 1000;
/** The new replica's expected share of the keys is 1/4; see the README for the tolerance. */
const MOVED_TARGET = 0.3;
const SLOW_SHARE_TARGET = 0.15;

// Run from the repository root (the proto path is resolved from it); compiled to bench/dist/bench/.
const ROOT = process.cwd();

/**
 * weighted_round_robin's knobs for this bench, shortened from gRFC A58's defaults (reports every
 * 10 s, blackout 10 s, weights every 1 s) so that weights settle within the warm-up: the replicas
 * measure every REPORT_PERIOD_MS and accept reports that often.
 */
const WRR = {
  enable_oob_load_report: true,
  oob_load_reporting_period: `${REPORT_PERIOD_MS / 1000}s`,
  blackout_period: '1s',
  weight_update_period: `${REPORT_PERIOD_MS / 1000}s`,
} as const;

interface PolicyCase {
  id: string;
  label: string;
  policy: LoadBalancingConfig;
  /** Keyed load: every call carries one of KEYS user ids. */
  keyed?: boolean;
  /** Whether the slow-replica targets apply. */
  judged: boolean;
}

const POLICIES: readonly PolicyCase[] = [
  { id: 'round_robin', label: '`round_robin` (the baseline)', policy: { round_robin: {} }, judged: false },
  {
    id: 'least_request_2',
    label: '`least_request`, choiceCount 2',
    policy: { least_request: { choiceCount: 2 } },
    judged: true,
  },
  {
    id: 'least_request_3',
    label: '`least_request`, choiceCount 3',
    policy: { least_request: { choiceCount: 3 } },
    judged: true,
  },
  {
    id: 'weighted_round_robin',
    label: '`weighted_round_robin`, ORCA out of band',
    policy: { weighted_round_robin: WRR },
    judged: true,
  },
  {
    id: 'consistent_hash',
    label: `\`consistent_hash\` on \`${KEY_HEADER}\` (${KEYS} users)`,
    policy: { consistent_hash: { requestHashHeader: KEY_HEADER } },
    keyed: true,
    judged: false,
  },
];

const REPLICAS = [
  { name: 'fast-1', holdMs: FAST_MS },
  { name: 'fast-2', holdMs: FAST_MS },
  { name: 'slow', holdMs: SLOW_MS },
] as const;
/** The replica that registers during the consistent-hash membership check. */
const JOINER = { name: 'fast-3', holdMs: FAST_MS } as const;

type Replica = Child<ReplicaReady>;

/** Each replica's share of the calls counted. */
function shares(counts: Record<string, number>): Record<string, number> {
  const sum = Object.values(counts).reduce((a, b) => a + b, 0);
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, sum > 0 ? v / sum : 0]));
}

async function statsOf(replicas: readonly Replica[], reset: boolean): Promise<ReplicaStats[]> {
  return Promise.all(replicas.map((r) => r.request<ReplicaStats>({ type: 'stats', reset })));
}

/** Until no replica holds a call, then one idle report period or two. */
async function drain(replicas: readonly Replica[], stats: ReplicaStats[]): Promise<number> {
  const start = Date.now();
  let current = stats;
  while (current.some((s) => s.inReplica > 0) && Date.now() - start < 60_000) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    current = await statsOf(replicas, false);
  }
  const seconds = (Date.now() - start) / 1000;
  // The next channel's first load reports are then not the previous load's.
  await new Promise((resolve) => setTimeout(resolve, 2 * REPORT_PERIOD_MS));
  return seconds;
}

/**
 * Before the first policy, the same for all: every process's JIT, the client's first etcd watch
 * and proto loading, at a third of the rate through round robin (the slow replica is not
 * overloaded). Without it the first policy measured pays for a cold start: a generator stalled for
 * almost half a second, then a burst, in a first try.
 */
async function warmUp(load: Child, replicas: readonly Replica[]): Promise<void> {
  const channel = 'warm-up';
  await load.request({ type: 'open', channel, policy: { round_robin: {} } });
  await load.request<RunResult>({
    type: 'run',
    channel,
    rate: RATE / 3,
    warmupSeconds: quick ? 1 : 2,
    seconds: 0,
    deadlineMs: DEADLINE_MS,
    keys: 0,
  });
  await load.request({ type: 'close', channel });
  await drain(replicas, await statsOf(replicas, true));
}

async function measurePolicy(
  load: Child,
  replicas: readonly Replica[],
  c: PolicyCase,
  roundNo: number,
): Promise<PolicyRow> {
  await statsOf(replicas, true);
  const channel = `${c.id}-${roundNo}`;
  await load.request({ type: 'open', channel, policy: c.policy } satisfies Omit<
    Extract<LoadRequest, { type: 'open' }>,
    'id'
  >);
  const r = await load.request<RunResult>({
    type: 'run',
    channel,
    rate: RATE,
    warmupSeconds: WARMUP_SECONDS,
    seconds: MEASURE_SECONDS,
    deadlineMs: DEADLINE_MS,
    keys: c.keyed === true ? KEYS : 0,
  } satisfies Omit<Extract<LoadRequest, { type: 'run' }>, 'id'>);
  const stats = await statsOf(replicas, true);
  await load.request({ type: 'close', channel });
  const received: Record<string, number> = {};
  const receivedInWarmup: Record<string, number> = {};
  for (const [i, s] of stats.entries()) {
    const name = REPLICAS[i]?.name as string;
    received[name] = s.received[MEASURED] ?? 0;
    receivedInWarmup[name] = s.received[WARMUP] ?? 0;
  }
  const slowUtilization = stats[2]?.applicationUtilization ?? Number.NaN;
  // Before the next policy, the replicas finish (or drop) what they hold.
  const drainSeconds = await drain(replicas, stats);
  const row: PolicyRow = {
    policy: c.id,
    round: roundNo,
    received,
    share: shares(received),
    warmupShare: shares(receivedInWarmup),
    calls: r.calls,
    okRate: r.calls > 0 ? r.ok / r.calls : 0,
    errors: r.errors,
    p50: round(r.p50, 1),
    p90: round(r.p90, 1),
    p99: round(r.p99, 1),
    max: round(r.max, 1),
    slowUtilization: round(slowUtilization, 2),
    maxLagMs: round(r.maxLagMs, 1),
    drainSeconds: round(drainSeconds, 1),
  };
  if (c.keyed === true) {
    row.keysSeen = r.keysSeen;
    row.keysOnSeveralReplicas = r.keysOnSeveralReplicas;
  }
  const byReplica = REPLICAS.map((x) => `${x.name} ${pct(row.share[x.name] ?? 0)}`).join(', ');
  console.log(
    `round ${roundNo} ${c.id.padEnd(21)} ${byReplica} (slow in warm-up ${pct(row.warmupShare.slow ?? 0)}); p50 ${row.p50} ms, p99 ${row.p99} ms, OK ${pct(row.okRate, 2)}` +
      `${Object.keys(r.errors).length > 0 ? ` ${JSON.stringify(r.errors)}` : ''}; slow reports ${row.slowUtilization}` +
      `${c.keyed === true ? `; keys on several replicas ${row.keysOnSeveralReplicas}/${row.keysSeen}` : ''}` +
      ` (generator lag ${row.maxLagMs} ms, drained in ${row.drainSeconds} s)`,
  );
  return row;
}

async function keysRound(load: Child, channel: string): Promise<string[]> {
  const r = await load.request<KeysResult>({ type: 'keys', channel, count: KEYS, concurrency: 32 });
  return r.replicas;
}

/** Maps KEYS keys with the three replicas, then with a fourth registered, then after it leaves. */
async function membership(load: Child, node: string, etcd: string): Promise<MembershipResult> {
  const channel = 'membership';
  const policy = (POLICIES.find((c) => c.id === 'consistent_hash') as PolicyCase).policy;
  await load.request({ type: 'open', channel, policy });
  const first = await keysRound(load, channel);
  const second = await keysRound(load, channel);
  const errors = second.filter((r) => r.startsWith('error:')).length;
  const stableKeys = first.filter((r, i) => r === second[i] && !r.startsWith('error:')).length;

  const joinedAt = Date.now();
  const joiner = await startChild<ReplicaReady>(node, 'balance-server.js', [
    JOINER.name,
    String(JOINER.holdMs),
    etcd,
  ]);
  // The channel learns of the new replica through its etcd watch: map the keys until one reaches
  // it, then once more (the round that saw it first may straddle the update).
  let joined = second;
  while (!joined.includes(JOINER.name)) {
    if (Date.now() - joinedAt > 30_000) throw new Error(`no key reached ${JOINER.name} within 30 s`);
    joined = await keysRound(load, channel);
  }
  const joinSeconds = (Date.now() - joinedAt) / 1000;
  joined = await keysRound(load, channel);
  let moved = 0;
  let movedToNew = 0;
  for (const [i, r] of joined.entries()) {
    if (r === second[i]) continue;
    moved++;
    if (r === JOINER.name) movedToNew++;
  }
  const onNew = joined.filter((r) => r === JOINER.name).length;

  await stopChild(joiner); // deregisters first
  let left = joined;
  const leftAt = Date.now();
  while (left.includes(JOINER.name)) {
    if (Date.now() - leftAt > 30_000) throw new Error(`keys still reach ${JOINER.name} 30 s after it left`);
    left = await keysRound(load, channel);
  }
  left = await keysRound(load, channel);
  const backAfterLeave = left.filter((r, i) => r === second[i]).length;
  await load.request({ type: 'close', channel });
  const result = { keys: KEYS, stableKeys, errors, moved, movedToNew, onNew, joinSeconds, backAfterLeave };
  console.log(`consistent_hash membership: ${JSON.stringify(result)}`);
  return result;
}

const loadAverage = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');

async function measure(): Promise<RunData> {
  const node = benchNode(values.node);
  console.log(`bench:balance: replicas and client on ${describeNode(node)}`);
  const loadAverageStart = loadAverage();
  const etcd = await startEtcd();
  try {
    const replicas: Replica[] = [];
    for (const r of REPLICAS) {
      const child = await startChild<ReplicaReady>(node.path, 'balance-server.js', [
        r.name,
        String(r.holdMs),
        etcd.endpoint,
      ]);
      if (child.ready.node !== node.version) {
        throw new Error(`${r.name} runs on Node ${child.ready.node}, not ${node.version}`);
      }
      replicas.push(child);
    }
    const load = await startChild<{ node: string }>(node.path, 'balance-load.js', [etcd.endpoint]);
    if (load.ready.node !== node.version) {
      throw new Error(`the client runs on Node ${load.ready.node}, not ${node.version}`);
    }
    console.log(
      `etcd ${etcd.endpoint}; etcd:///${SERVICE}: replicas ${replicas.map((r) => `${r.ready.name} 127.0.0.1:${r.ready.port}`).join(', ')}; ` +
        `${RATE} calls/s open loop, ${WARMUP_SECONDS} s warm-up + ${MEASURE_SECONDS} s measured per policy, ${ROUNDS} round(s)`,
    );
    await warmUp(load, replicas);
    const rows: PolicyRow[] = [];
    for (let roundNo = 1; roundNo <= ROUNDS; roundNo++) {
      for (const c of POLICIES) rows.push(await measurePolicy(load, replicas, c, roundNo));
    }
    const keys = await membership(load, node.path, etcd.endpoint);
    return {
      when: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      machine: `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'})`,
      node: node.version,
      loadAverageStart,
      loadAverageEnd: loadAverage(),
      quick,
      rounds: ROUNDS,
      settings: {
        fastMs: FAST_MS,
        slowMs: SLOW_MS,
        pool: POOL,
        rate: RATE,
        deadlineMs: DEADLINE_MS,
        warmupSeconds: WARMUP_SECONDS,
        measureSeconds: MEASURE_SECONDS,
        reportPeriodMs: REPORT_PERIOD_MS,
        keys: KEYS,
        utilization: UTILIZATION,
        weightedRoundRobin: WRR,
      },
      targets: { slowShare: SLOW_SHARE_TARGET, p99Ratio: 0.5, movedShare: MOVED_TARGET },
      policies: POLICIES.map((c) => ({
        id: c.id,
        label: c.label,
        judged: c.judged,
        keyed: c.keyed === true,
      })),
      replicas: REPLICAS.map((r) => r.name),
      rows,
      membership: keys,
    };
  } finally {
    await stopChildren();
    await etcd.stop();
  }
}

async function main() {
  const resultsPath = join(ROOT, 'bench', 'results', 'balance.json');
  if (values.render) {
    writeReadmeSection(
      join(ROOT, 'bench', 'README.md'),
      JSON.parse(readFileSync(resultsPath, 'utf8')) as RunData,
    );
    return;
  }
  const data = await measure();
  console.log(`\n${renderTables(data)}`);
  const out = values.out ?? (quick ? join(ROOT, 'bench', 'results', 'balance-quick.json') : resultsPath);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(data, null, 2)}\n`);
  // A quick run judges nothing, and one written elsewhere is an experiment: both leave the README alone.
  if (!quick && values.out === undefined) writeReadmeSection(join(ROOT, 'bench', 'README.md'), data);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
