/**
 * `npm run bench`: per-call overhead of weft's interceptors against bare grpc-js and the peers.
 * Every server variant runs in its own process; a separate load process drives it. Variants are
 * interleaved (A B C A B C ...) over several rounds so drift hits all of them alike, and each
 * round's ratio is taken against bare grpc-js measured in that same round. See bench/README.md.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clientVariants } from './client-variants';
import { HS256_TOKEN } from './credentials';
import type { LoadRequest, LoadResult } from './load-process';
import { benchNode, describeNode } from './node-binary';
import type { ControlMessage, CpuSample, Workload } from './proto';
import { serverVariants } from './server-variants';
import { TARGETS, targetFor } from './targets';

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    calls: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    server: { type: 'string' },
    client: { type: 'string' },
    soak: { type: 'string' },
    'soak-variant': { type: 'string', default: 'preset' },
    /** The Node binary to measure with: a path or a line (`24`); see bench/node-binary.ts. */
    node: { type: 'string' },
    out: { type: 'string', default: join(process.cwd(), 'bench', 'results', 'latest.json') },
    /**
     * CPUs for the server processes and the load processes (`taskset` lists), e.g. `--pin 1:0`.
     * Default `1:0` on a machine with at least two CPUs and `taskset`: the measured server and the
     * load that drives it never share a core, so one does not steal the other's cycles (on two
     * cores, unpinned, the scheduler moves them about and server CPU time swings by 20-30%).
     * `--pin none` leaves placement to the scheduler.
     */
    pin: { type: 'string' },
    /**
     * Extra flags for the measured processes (servers and load), e.g. `--single-threaded-gc` to
     * keep the collector on the main thread as `bench:instructions` does (`--single-threaded`).
     */
    'node-flags': { type: 'string', default: '' },
  },
});

const smoke = values.smoke;
const rounds = Number(values.rounds ?? (smoke ? 1 : 5));
// Windows of several seconds: a mark-compact every few thousand calls and the scheduler's slices
// average out over them (6000 calls, about a second, moved single rounds by 20%).
const unaryCalls = Number(values.calls ?? (smoke ? 200 : 20000));
const concurrency = Number(values.concurrency);
const pick = (all: string[], filter: string | undefined) =>
  filter === undefined ? all : all.filter((n) => n === 'bare' || filter.split(',').includes(n));
const serverNames = pick(Object.keys(serverVariants), values.server);
const clientNames = pick(Object.keys(clientVariants), values.client);
const workloads: { workload: Workload; calls: number }[] = [
  { workload: 'unary', calls: unaryCalls },
  { workload: 'server_stream', calls: Math.max(50, Math.floor(unaryCalls / 4)) },
];

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const pinning = values.pin ?? (cpus().length >= 2 && hasTaskset() ? '1:0' : 'none');
const [serverCpus, loadCpus] = pinning === 'none' ? [undefined, undefined] : pinning.split(':');

// Plain node on the compiled bench (npm run bench compiles it first): a TypeScript loader would
// transform weft's code and not grpc-js's, and skew the comparison.
const execArgv = ['--expose-gc', ...values['node-flags'].split(/\s+/).filter(Boolean)];
const node = benchNode(values.node);
process.stderr.write(`bench: measuring on ${describeNode(node)}\n`);

interface Child {
  process: ChildProcess;
  port: number;
  /** What the load sends to this server as its bearer token. */
  token: string;
}

function start(script: string, arg: string): Promise<Child> {
  const child = fork(join(__dirname, script), [arg], {
    execPath: node.path,
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const cpuList = script === 'server-process.js' ? serverCpus : loadCpus;
  // Every thread (-a), before the process has done anything worth measuring; threads started
  // later (V8's, libuv's) inherit the mask.
  if (cpuList && child.pid !== undefined)
    execFileSync('taskset', ['-a', '-p', '-c', cpuList, String(child.pid)], { stdio: 'ignore' });
  return new Promise((resolve, reject) => {
    child.once('message', (m: ControlMessage) => {
      if (m.type === 'ready' && (m.node?.version !== node.version || m.node.path !== node.path)) {
        reject(new Error(`${script} ${arg} runs on ${JSON.stringify(m.node)}, not ${describeNode(node)}`));
      } else if (m.type === 'ready') resolve({ process: child, port: m.port, token: m.token ?? HS256_TOKEN });
      else reject(new Error(`${script} ${arg}: ${m.type === 'error' ? m.message : 'unexpected message'}`));
    });
    child.once('exit', (code) => reject(new Error(`${script} ${arg} exited with ${code}`)));
  });
}

let requestId = 0;
type Probe = Extract<ControlMessage, { type: 'cpu' }>;

/** Asks a server process for its CPU time (and heap, after a full GC when `gc`). */
function probe(server: Child, gc = false): Promise<Probe> {
  const id = ++requestId;
  return new Promise((resolve) => {
    const onMessage = (m: ControlMessage) => {
      if (m.type === 'cpu' && m.id === id) {
        server.process.off('message', onMessage);
        resolve(m);
      }
    };
    server.process.on('message', onMessage);
    server.process.send({ type: 'cpu', id, gc });
  });
}

async function cpuOf(server: Child): Promise<CpuSample> {
  return (await probe(server)).cpu;
}

function load(loader: Child, request: Omit<LoadRequest, 'type'>): Promise<LoadResult> {
  return new Promise((resolve) => {
    loader.process.once('message', (m: LoadResult) => resolve(m));
    loader.process.send({ type: 'run', ...request });
  });
}

interface Sample {
  callsPerSecond: number;
  p50: number;
  p99: number;
  cpuPerCall: number;
  errors: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

async function main() {
  const servers = new Map<string, Child>();
  for (const name of serverNames) servers.set(name, await start('server-process.js', name));
  const loaders = new Map<string, Child>();
  for (const name of clientNames) loaders.set(name, await start('load-process.js', name));
  const bareLoader = loaders.get('bare')!;
  const bareServer = servers.get('bare')!;

  // samples[side][workload][variant] = one Sample per round
  const samples: Record<string, Record<string, Record<string, Sample[]>>> = { server: {}, client: {} };
  const record = (side: string, workload: string, variant: string, s: Sample) => {
    const bySide = samples[side]!;
    const byWorkload = bySide[workload] ?? {};
    bySide[workload] = byWorkload;
    const list = byWorkload[variant] ?? [];
    list.push(s);
    byWorkload[variant] = list;
  };

  // Warm up every pair once (JIT, connections) before measuring.
  for (const { workload, calls } of workloads) {
    for (const server of servers.values())
      await load(bareLoader, {
        port: server.port,
        token: server.token,
        workload,
        calls: Math.ceil(calls / 4),
        concurrency,
      });
    for (const loader of loaders.values())
      await load(loader, {
        port: bareServer.port,
        token: bareServer.token,
        workload,
        calls: Math.ceil(calls / 4),
        concurrency,
      });
  }

  for (let round = 0; round < rounds; round++) {
    for (const { workload, calls } of workloads) {
      // Rotate the start so no variant always runs first.
      const order = serverNames.map((_, i) => serverNames[(i + round) % serverNames.length]!);
      for (const name of order) {
        const server = servers.get(name)!;
        const before = await cpuOf(server);
        const result = await load(bareLoader, {
          port: server.port,
          token: server.token,
          workload,
          calls,
          concurrency,
        });
        const after = await cpuOf(server);
        const cpu = after.user - before.user + (after.system - before.system);
        record('server', workload, name, {
          callsPerSecond: result.calls / result.seconds,
          p50: result.p50,
          p99: result.p99,
          cpuPerCall: cpu / result.calls,
          errors: result.errors,
        });
      }
      const clientOrder = clientNames.map((_, i) => clientNames[(i + round) % clientNames.length]!);
      for (const name of clientOrder) {
        const result = await load(loaders.get(name)!, {
          port: bareServer.port,
          token: bareServer.token,
          workload,
          calls,
          concurrency,
        });
        record('client', workload, name, {
          callsPerSecond: result.calls / result.seconds,
          p50: result.p50,
          p99: result.p99,
          cpuPerCall: result.cpuMicros / result.calls,
          errors: result.errors,
        });
      }
    }
    process.stderr.write(`round ${round + 1}/${rounds} done\n`);
  }

  const rows: Record<string, unknown>[] = [];
  for (const side of ['server', 'client'] as const) {
    for (const [workload, byVariant] of Object.entries(samples[side]!)) {
      const bare = byVariant.bare ?? [];
      for (const [variant, list] of Object.entries(byVariant)) {
        const ratios = list.map((s, i) => s.cpuPerCall / (bare[i]?.cpuPerCall ?? Number.NaN));
        const ratio = median(ratios);
        // Half the range of the per-round ratios: how far one round may stray from the median.
        const spread = (Math.max(...ratios) - Math.min(...ratios)) / 2;
        const target = targetFor(side, variant);
        rows.push({
          side,
          workload,
          variant,
          callsPerSecond: Math.round(median(list.map((s) => s.callsPerSecond))),
          p50Ms: +median(list.map((s) => s.p50)).toFixed(3),
          p99Ms: +median(list.map((s) => s.p99)).toFixed(3),
          cpuMicrosPerCall: +median(list.map((s) => s.cpuPerCall)).toFixed(1),
          ratio: +ratio.toFixed(3),
          ratioSpread: +spread.toFixed(3),
          target: target ?? null,
          meetsTarget: target === undefined ? null : ratio <= target,
          errors: list.reduce((n, s) => n + s.errors, 0),
        });
      }
    }
  }

  const report = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      // The Node the measured processes ran on (each checked it at start).
      node: node.version,
      nodePath: node.path,
      nodeChosenBy: node.chosenBy,
    },
    settings: { rounds, unaryCalls, concurrency, smoke, pin: pinning },
    targets: TARGETS,
    rows,
  };
  mkdirSync(join(values.out, '..'), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${describeNode(node)}\n\n`);
  printTable(rows);
  process.stdout.write(`\nJSON: ${values.out}\n`);

  for (const child of [...servers.values(), ...loaders.values()]) child.process.send({ type: 'stop' });
}

function printTable(rows: Record<string, unknown>[]) {
  const cols = [
    'side',
    'workload',
    'variant',
    'callsPerSecond',
    'p50Ms',
    'p99Ms',
    'cpuMicrosPerCall',
    'ratio',
    'ratioSpread',
    'target',
    'meetsTarget',
    'errors',
  ];
  const cells = rows.map((r) => cols.map((c) => String(r[c] ?? '')));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (xs: string[]) => `| ${xs.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  process.stdout.write(`${line(cols)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`);
  for (const row of cells) process.stdout.write(`${line(row)}\n`);
}

/**
 * The soak: `calls` calls through one server variant (the full preset by default), with the heap
 * measured after a full GC at checkpoints. Passes when the heap after the last checkpoint is within
 * `SOAK_HEAP_BOUND` of the one after warm-up, live handles are back to their idle count, and the
 * variant's own counters balance (every span that started ended).
 */
const SOAK_HEAP_BOUND = 8 * 2 ** 20;

async function soak(calls: number, variant: string) {
  const server = await start('server-process.js', variant);
  const loader = await start('load-process.js', 'bare');
  const chunk = Math.min(50_000, Math.max(1000, Math.floor(calls / 10)));
  await load(loader, {
    port: server.port,
    token: server.token,
    workload: 'unary',
    calls: chunk,
    concurrency,
  });
  const idle = await probe(server, true);
  const checkpoints: { calls: number; heapMiB: number; handles: number }[] = [];
  let done = 0;
  while (done < calls) {
    const n = Math.min(chunk, calls - done);
    const result = await load(loader, {
      port: server.port,
      token: server.token,
      workload: done % (2 * chunk) ? 'server_stream' : 'unary',
      calls: n,
      concurrency: 64,
    });
    if (result.errors > 0) throw new Error(`soak: ${result.errors} failed calls`);
    done += n;
    const p = await probe(server, true);
    checkpoints.push({ calls: done, heapMiB: +(p.heap / 2 ** 20).toFixed(2), handles: p.handles });
    process.stderr.write(
      `soak ${done}/${calls}: heap ${(p.heap / 2 ** 20).toFixed(1)} MiB, ${p.handles} handles\n`,
    );
  }
  const last = await probe(server, true);
  const growth = last.heap - idle.heap;
  const stats = last.stats ?? {};
  const balanced = stats.spansStarted === undefined || stats.spansStarted === stats.spansEnded;
  const report = {
    variant,
    node: { version: node.version, path: node.path, chosenBy: node.chosenBy },
    calls,
    heapIdleMiB: +(idle.heap / 2 ** 20).toFixed(2),
    heapAfterMiB: +(last.heap / 2 ** 20).toFixed(2),
    heapGrowthMiB: +(growth / 2 ** 20).toFixed(2),
    heapBoundMiB: SOAK_HEAP_BOUND / 2 ** 20,
    handlesIdle: idle.handles,
    handlesAfter: last.handles,
    stats,
    checkpoints,
    pass: growth <= SOAK_HEAP_BOUND && last.handles <= idle.handles && balanced,
  };
  mkdirSync(join(values.out, '..'), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify({ ...report, checkpoints: undefined })}\n`);
  for (const child of [server, loader]) child.process.send({ type: 'stop' });
  if (!report.pass) process.exitCode = 1;
}

const run = values.soak === undefined ? main : () => soak(Number(values.soak), values['soak-variant']);
run().catch((error) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
