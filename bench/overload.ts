/**
 * `npm run bench:overload`: how each admission control holds up when offered more than the
 * server can do. A server process (overload-server.ts) with a fixed cost per call and a separate
 * open-loop load process (overload-load.ts). First the capacity is measured (the best sustained
 * open-loop goodput with no limit, see openLoopCapacity) and the unloaded latency (open loop at
 * 0.1x); then, for each variant, a fresh server is
 * offered 0.5x to 3x that capacity in steps, and each step reports goodput (OK calls/s) and the
 * p50/p99 latency of the calls it admitted. Writes bench/overload.svg, bench/results/overload.json
 * and the table in bench/README.md (between the `overload` markers), and prints the table.
 *
 * `--quick` runs short steps (a smoke run that judges nothing). `--node <line|path>` picks the Node
 * the server and load processes run on (default Node 24, see node-binary.ts); `--render` rewrites
 * the outputs from bench/results/overload.json without measuring.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchNode, describeNode } from './node-binary';
import { CPU_MS, type OverloadServerStats, STATIC_HIGH, STATIC_LOW, WAIT_MS } from './overload-config';
import type { ClosedLoopResult, OpenLoopResult } from './overload-load';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    render: { type: 'boolean', default: false },
    node: { type: 'string' },
  },
});
const quick = args.quick;
const STEP_SECONDS = quick ? 1 : 4;
const STEPS = [0.5, 1, 1.5, 2, 2.5, 3];
const DEADLINE_MS = 1000;
const VARIANTS = ['none', 'static-high', 'static-low', 'adaptive'] as const;
type Variant = (typeof VARIANTS)[number];
const LABELS: Record<Variant, string> = {
  none: 'no limit',
  'static-high': `concurrencyLimit ${STATIC_HIGH} (too high)`,
  'static-low': `concurrencyLimit ${STATIC_LOW} (too low)`,
  adaptive: 'adaptiveConcurrency (defaults)',
};
const COLORS: Record<Variant, string> = {
  none: '#d62728',
  'static-high': '#ff7f0e',
  'static-low': '#7f7f7f',
  adaptive: '#2ca02c',
};

// Run from the repository root (the proto path is resolved from it); compiled to bench/dist/bench/.
const ROOT = process.cwd();

interface Child {
  proc: ChildProcess;
  request<T>(message: Record<string, unknown>): Promise<T>;
  stop(): void;
}

let measuredOn: ReturnType<typeof benchNode> | undefined;
/** The Node the server and load processes run on, resolved once (only a measuring run needs it). */
function node(): ReturnType<typeof benchNode> {
  if (measuredOn === undefined) {
    measuredOn = benchNode(args.node);
    process.stderr.write(`bench:overload: measuring on ${describeNode(measuredOn)}\n`);
  }
  return measuredOn;
}

let nextId = 1;
async function start(script: string, arg: string): Promise<Child & { port?: number }> {
  const proc = fork(join(__dirname, script), [arg], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execPath: node().path,
  });
  const waiting = new Map<number, (m: unknown) => void>();
  let ready: (m: { port?: number }) => void = () => {};
  const readyP = new Promise<{ port?: number }>((r) => {
    ready = r;
  });
  proc.on('message', (m: { type: string; id?: number; port?: number }) => {
    if (m.type === 'ready') ready(m);
    else if (m.id !== undefined) waiting.get(m.id)?.(m);
  });
  proc.on('exit', (code) => {
    if (code !== 0 && code !== null) throw new Error(`${script} ${arg} exited with ${code}`);
  });
  const { port } = await readyP;
  return {
    proc,
    port,
    request<T>(message: Record<string, unknown>) {
      const id = nextId++;
      return new Promise<T>((resolve) => {
        waiting.set(id, (m) => resolve(m as T));
        proc.send({ ...message, id });
      });
    },
    stop() {
      proc.send({ type: 'stop' });
    },
  };
}

interface StepRow {
  variant: Variant;
  multiple: number;
  offeredPerSecond: number;
  goodput: number;
  rejectedPerSecond: number;
  deadlineExceededPerSecond: number;
  p50: number;
  p99: number;
  limit?: number;
  /** The adaptive limiter's measured baseline RTT at the end of the step, ms. */
  baselineMs?: number;
  /** Seconds of the step during which the adaptive limit was held for a baseline measurement. */
  heldForBaselineSeconds?: number;
  maxLagMs: number;
  /** How long the server kept working after the step's last call was answered. */
  drainSeconds: number;
  /** The server process's CPU time during the step, % of one core. */
  serverCpuPercent: number;
  /** The server's event-loop utilisation during the step, %. */
  serverEluPercent: number;
  /** Median time from the handler's start to its answer during the step, ms. */
  handlerP50: number;
  /** The load generator's CPU time during the step, % of one core. */
  loadCpuPercent: number;
  /** The adaptive limit sampled every 20 ms during the step: mean, min, max; and the mean calls in flight. */
  limitMean?: number;
  limitMin?: number;
  limitMax?: number;
  inFlightMean?: number;
}

const round = (n: number, digits = 0) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : Number.NaN);

/**
 * Offers `rate` calls/s to `server` open-loop for `seconds`, then lets it finish the work it still
 * holds (without a limit, calls whose deadline passed are still worked on): the servers share the
 * machine, and the next step must not pay for this one. `first` is the server's state right after
 * the step, `stats` after the drain.
 */
async function offer(server: Child & { port?: number }, load: Child, rate: number, seconds: number) {
  await server.request({ type: 'mark' });
  const r = await load.request<OpenLoopResult>({
    type: 'run',
    port: server.port,
    rate,
    seconds,
    deadlineMs: DEADLINE_MS,
  });
  const first = await server.request<OverloadServerStats>({ type: 'stats' });
  let stats = first;
  const drainStart = Date.now();
  while (stats.busy > 0 && Date.now() - drainStart < 60_000) {
    await new Promise((done) => setTimeout(done, 100));
    stats = await server.request<OverloadServerStats>({ type: 'stats' });
  }
  return { r, first, stats, drainSeconds: (Date.now() - drainStart) / 1000 };
}

async function step(
  load: Child,
  server: Child & { port?: number },
  variant: Variant,
  multiple: number,
  capacity: number,
): Promise<StepRow> {
  const rate = capacity * multiple;
  const { r, first, stats, drainSeconds } = await offer(server, load, rate, STEP_SECONDS);
  const held = first.heldForBaselineMs;
  const row: StepRow = {
    variant,
    multiple,
    offeredPerSecond: round(rate),
    goodput: round(r.ok / r.seconds),
    rejectedPerSecond: round(r.rejected / r.seconds),
    deadlineExceededPerSecond: round(r.deadlineExceeded / r.seconds),
    p50: round(r.admittedP50, 1),
    p99: round(r.admittedP99, 1),
    maxLagMs: round(r.maxLagMs, 1),
    drainSeconds: round(drainSeconds, 1),
    serverCpuPercent: round(first.cpuPercent),
    serverEluPercent: round(first.eluPercent),
    handlerP50: round(first.handlerP50Ms, 1),
    loadCpuPercent: round(r.cpuPercent),
  };
  if (stats.limit !== undefined) row.limit = stats.limit;
  if (stats.baselineMs !== undefined) row.baselineMs = round(stats.baselineMs, 1);
  if (held !== undefined) row.heldForBaselineSeconds = round(held / 1000, 1);
  if (first.limitMean !== undefined) {
    row.limitMean = round(first.limitMean, 1);
    row.limitMin = first.limitMin;
    row.limitMax = first.limitMax;
    row.inFlightMean = round(first.inFlightMean ?? Number.NaN, 1);
  }
  console.log(
    `${LABELS[variant].padEnd(36)} ${`${multiple}x`.padStart(5)} goodput ${String(row.goodput).padStart(5)}/s` +
      ` rejected ${String(row.rejectedPerSecond).padStart(5)}/s deadline ${String(row.deadlineExceededPerSecond).padStart(4)}/s` +
      ` p50 ${row.p50} ms p99 ${row.p99} ms cpu server ${row.serverCpuPercent}% load ${row.loadCpuPercent}% elu ${row.serverEluPercent}% handler p50 ${row.handlerP50} ms` +
      `${row.limit === undefined ? '' : ` limit ${row.limit} (mean ${row.limitMean}, ${row.limitMin}-${row.limitMax}, in flight ${row.inFlightMean}) baseline ${row.baselineMs} ms (held ${row.heldForBaselineSeconds} s)`} (generator lag ${row.maxLagMs} ms, drained in ${row.drainSeconds} s)`,
  );
  return row;
}

/** Closed loop, no limit: the most OK calls/s 128 callers get (kept for comparison; it reads low). */
async function closedLoopCapacity(load: Child, server?: Child & { port?: number }): Promise<number> {
  const probe = server ?? (await start('overload-server.js', 'none'));
  await load.request<ClosedLoopResult>({ type: 'closed', port: probe.port, concurrency: 128, seconds: 1 });
  const r = await load.request<ClosedLoopResult>({
    type: 'closed',
    port: probe.port,
    concurrency: 128,
    seconds: quick ? 2 : 4,
  });
  if (server === undefined) probe.stop();
  return r.okPerSecond;
}

/** One open-loop rate tried by the capacity search. */
interface CapacityProbe {
  rate: number;
  goodput: number;
  deadlineExceeded: number;
  /** Handlers still running when the step's last call had been answered (calls given up on). */
  workLeft: number;
  /** Median latency of the calls due in the step's last quarter minus that of its second quarter, ms. */
  growthMs: number;
  p99: number;
  sustained: boolean;
}

// The capacity search: open-loop steps this long (long enough for a queue that grows by a few
// percent of capacity to show as latency growth), ramped in steps of RAMP x the closed-loop figure
// until a rate is not sustained, then REFINE halvings between the last sustained rate and it.
const CAPACITY_STEP_SECONDS = quick ? 1.5 : 5;
const RAMP = quick ? 0.2 : 0.1;
const REFINE = quick ? 0 : 2;
const MAX_PROBES = 12;
/**
 * A rate is sustained when its latency did not grow through the step by more than this: between
 * the middles of the second and last quarters (2.5 s apart in a 5 s step) 50 ms of growth is a
 * queue growing by 2% of capacity; at a sustainable rate the two medians are within a few ms.
 */
const GROWTH_MS = 50;

/**
 * Capacity: the best SUSTAINED open-loop goodput of the server with no limit. Paced arrivals, as in
 * the steps, ramped from 0.9x the closed-loop figure: a rate is sustained when essentially no call
 * ran past its deadline (at most 0.1%), the server had no work left when the step's last call was
 * answered, and the latency did not grow through the step (a growing queue: the server is not
 * keeping up, and the calls answered after the step, all OK within their deadline, would count
 * as goodput a rate the server cannot keep up with). The closed loop reads low (calls that arrive together wait
 * together, then burn the CPU together); a plain "best goodput of any step" reads high (it counts
 * the queue a 4 s step builds as goodput).
 */
async function openLoopCapacity(
  load: Child,
): Promise<{ capacity: number; closed: number; probes: CapacityProbe[] }> {
  const server = await start('overload-server.js', 'none');
  // The closed-loop figure first, on the same server (it warms it up too): it seeds the search.
  const closed = await closedLoopCapacity(load, server);
  const probes: CapacityProbe[] = [];
  const attempt = async (rate: number): Promise<boolean> => {
    const { r, first } = await offer(server, load, rate, CAPACITY_STEP_SECONDS);
    const workLeft = first.busy;
    const growthMs = r.lastQuarterP50 - r.secondQuarterP50;
    const sustained =
      r.deadlineExceeded <= 0.001 * r.offered &&
      r.otherErrors === 0 &&
      workLeft === 0 &&
      growthMs <= GROWTH_MS;
    const p: CapacityProbe = {
      rate: round(rate),
      goodput: round(r.ok / r.seconds),
      deadlineExceeded: r.deadlineExceeded,
      workLeft,
      growthMs: round(growthMs, 1),
      p99: round(r.admittedP99, 1),
      sustained,
    };
    probes.push(p);
    console.log(
      `capacity search: offered ${p.rate}/s goodput ${p.goodput}/s deadline exceeded ${p.deadlineExceeded} work left ${p.workLeft} latency growth ${p.growthMs} ms p99 ${p.p99} ms: ${sustained ? 'sustained' : 'not sustained'}`,
    );
    return sustained;
  };
  let rate = 0.9 * closed;
  let pass: number | undefined;
  let fail: number | undefined;
  if (await attempt(rate)) pass = rate;
  else fail = rate;
  while ((pass === undefined || fail === undefined) && probes.length < MAX_PROBES) {
    rate = pass === undefined ? rate - RAMP * closed : rate + RAMP * closed;
    if (rate <= 0) break;
    if (await attempt(rate)) pass = rate;
    else fail = rate;
  }
  for (let i = 0; i < REFINE && pass !== undefined && fail !== undefined; i++) {
    const mid = (pass + fail) / 2;
    if (await attempt(mid)) pass = mid;
    else fail = mid;
  }
  server.stop();
  const sustained = probes.filter((p) => p.sustained).map((p) => p.goodput);
  if (sustained.length === 0) throw new Error('bench:overload: no offered rate was sustained');
  return { capacity: Math.max(...sustained), closed, probes };
}

/** `open`: the capacity is the best sustained open-loop goodput (closed loop in runs before that). */
function table(rows: StepRow[], capacity: number, open: boolean): string {
  const lines = [
    `| variant | offered | goodput (OK/s) | ${open ? '% of capacity (best sustained open-loop goodput, no limit)' : '% of capacity (closed loop, 128 callers)'} | refused/s | deadline exceeded/s | admitted p50 (ms) | admitted p99 (ms) | server CPU / event loop busy (%) | adaptive limit: mean (min-max) | adaptive baseline (ms) | held for a baseline measurement (s) | work left after the step (s) |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${LABELS[r.variant]} | ${r.multiple}x (${r.offeredPerSecond}/s) | ${r.goodput} | ${Math.round((100 * r.goodput) / capacity)}% | ${r.rejectedPerSecond} | ${r.deadlineExceededPerSecond} | ${r.p50} | ${r.p99} | ${r.serverCpuPercent} / ${r.serverEluPercent} | ${r.limitMean === undefined ? '' : `${r.limitMean} (${r.limitMin}-${r.limitMax})`} | ${r.baselineMs ?? ''} | ${r.heldForBaselineSeconds ?? ''} | ${r.drainSeconds} |`,
    );
  }
  return lines.join('\n');
}

/** Two panels, goodput and admitted p99 against offered load, one line per variant. Plain SVG. */
function svg(rows: StepRow[], capacity: number, unloadedP99: number, open: boolean): string {
  const W = 940;
  const H = 400;
  const panelW = 380;
  const panelH = 260;
  const top = 50;
  const lefts = [70, 520];
  const xMin = 0.5;
  const xMax = 3;
  const x = (left: number, m: number) => left + ((m - xMin) / (xMax - xMin)) * panelW;
  const goodMax = Math.max(capacity * 1.1, ...rows.map((r) => r.goodput));
  const p99Max = Math.max(...rows.map((r) => (Number.isFinite(r.p99) ? r.p99 : 0)), DEADLINE_MS);
  // Latency on a log scale, from a little under the smallest p99 to a little over the largest.
  const p99s = rows.map((r) => r.p99).filter((v) => Number.isFinite(v));
  const lo = Math.log10(Math.max(1, Math.min(unloadedP99, ...p99s) / 1.5));
  const hi = Math.log10(p99Max * 1.2);
  const yGood = (v: number) => top + panelH - (v / goodMax) * panelH;
  const yP99 = (v: number) => top + panelH - ((Math.log10(Math.max(v, 1)) - lo) / (hi - lo)) * panelH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    '<title>Overload benchmark: goodput and admitted p99 latency against offered load</title>',
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${lefts[0]}" y="24" font-size="14" font-weight="bold">Goodput (OK calls/s) vs offered load</text>`,
    `<text x="${lefts[1]}" y="24" font-size="14" font-weight="bold">Admitted p99 latency (ms, log) vs offered load</text>`,
  ];
  for (const [i, left] of lefts.entries()) {
    out.push(`<rect x="${left}" y="${top}" width="${panelW}" height="${panelH}" fill="none" stroke="#444"/>`);
    for (const m of STEPS) {
      out.push(
        `<line x1="${x(left, m)}" y1="${top + panelH}" x2="${x(left, m)}" y2="${top + panelH + 4}" stroke="#444"/>`,
        `<text x="${x(left, m)}" y="${top + panelH + 18}" text-anchor="middle">${m}x</text>`,
      );
    }
    out.push(
      `<text x="${left + panelW / 2}" y="${top + panelH + 36}" text-anchor="middle">offered load (x capacity, ${open ? 'best sustained open loop' : 'closed loop'}: ${round(capacity)} calls/s)</text>`,
    );
    if (i === 0) {
      for (const f of [0, 0.25, 0.5, 0.75, 1]) {
        const v = goodMax * f;
        out.push(
          `<text x="${left - 6}" y="${yGood(v) + 4}" text-anchor="end">${Math.round(v)}</text>`,
          `<line x1="${left}" y1="${yGood(v)}" x2="${left + panelW}" y2="${yGood(v)}" stroke="#eee"/>`,
        );
      }
      out.push(
        `<line x1="${left}" y1="${yGood(capacity)}" x2="${left + panelW}" y2="${yGood(capacity)}" stroke="#000" stroke-dasharray="4 3"/>`,
        `<text x="${left + 4}" y="${yGood(capacity) - 4}">capacity</text>`,
      );
    } else {
      for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
        for (const k of [1, 2, 5]) {
          const v = k * 10 ** e;
          if (Math.log10(v) < lo || Math.log10(v) > hi) continue;
          out.push(
            `<text x="${left - 6}" y="${yP99(v) + 4}" text-anchor="end">${v}</text>`,
            `<line x1="${left}" y1="${yP99(v)}" x2="${left + panelW}" y2="${yP99(v)}" stroke="#eee"/>`,
          );
        }
      }
      const bound = 3 * unloadedP99;
      out.push(
        `<line x1="${left}" y1="${yP99(bound)}" x2="${left + panelW}" y2="${yP99(bound)}" stroke="#000" stroke-dasharray="4 3"/>`,
        `<text x="${left + 4}" y="${yP99(bound) - 4}">3x unloaded p99 (${round(bound)} ms)</text>`,
      );
    }
  }
  for (const variant of VARIANTS) {
    const mine = rows.filter((r) => r.variant === variant);
    const good = mine.map(
      (r) => `${round(x(lefts[0] as number, r.multiple), 1)},${round(yGood(r.goodput), 1)}`,
    );
    const lat = mine
      .filter((r) => Number.isFinite(r.p99))
      .map((r) => `${round(x(lefts[1] as number, r.multiple), 1)},${round(yP99(r.p99), 1)}`);
    out.push(
      `<polyline points="${good.join(' ')}" fill="none" stroke="${COLORS[variant]}" stroke-width="2"/>`,
      `<polyline points="${lat.join(' ')}" fill="none" stroke="${COLORS[variant]}" stroke-width="2"/>`,
    );
  }
  VARIANTS.forEach((variant, i) => {
    const lx = 70 + (i % 2) * 450;
    const ly = H - 34 + Math.floor(i / 2) * 18;
    out.push(
      `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 20}" y2="${ly - 4}" stroke="${COLORS[variant]}" stroke-width="3"/>`,
      `<text x="${lx + 26}" y="${ly}">${LABELS[variant]}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

interface RunData {
  when: string;
  machine: string;
  loadAverage: string;
  quick: boolean;
  /** The best sustained open-loop goodput of the server with no limit: what the steps are multiples of. */
  capacity: number;
  /** The open-loop rates tried to find it (absent in runs before the capacity was measured open loop). */
  capacityProbes?: CapacityProbe[];
  /** Closed loop (128 callers), before the steps; in runs before the open-loop search, `capacity` was this. */
  capacityClosed?: number;
  /** Closed loop again after the steps: how far the machine moved during the run. */
  capacityAfter: number;
  unloaded: OpenLoopResult;
  stepSeconds: number;
  rows: StepRow[];
}

async function measure(): Promise<RunData> {
  const load = await start('overload-load.js', '');
  // Capacity: the best sustained open-loop goodput with no limit, seeded by the closed-loop figure
  // (128 callers), which is measured again after the steps (the machine is shared: the two differ
  // by what the neighbours did meanwhile).
  const { capacity, closed: capacityClosed, probes: capacityProbes } = await openLoopCapacity(load);
  const probe = await start('overload-server.js', 'none');
  const unloaded = await load.request<OpenLoopResult>({
    type: 'run',
    port: probe.port,
    rate: capacity * 0.1,
    seconds: quick ? 1 : 4,
    deadlineMs: DEADLINE_MS,
  });
  probe.stop();
  console.log(
    `capacity ${round(capacity)} calls/s (best sustained open loop; closed loop ${round(capacityClosed)} calls/s); unloaded p50 ${round(unloaded.admittedP50, 1)} ms, p99 ${round(unloaded.admittedP99, 1)} ms`,
  );

  // One server per variant, all up for the whole run, and the steps interleaved (each load step
  // runs against every variant in turn) so that a busy moment of the machine hits all of them.
  const servers = new Map<Variant, Child & { port?: number }>();
  for (const variant of VARIANTS) servers.set(variant, await start('overload-server.js', variant));
  // Warm-up, the same for every server: 3 callers for 2.5 s (JIT, the connection, and the adaptive
  // limiter's first baseline measurement, which holds its limit at 3 for its first 25 calls).
  for (const server of servers.values()) {
    await load.request<ClosedLoopResult>({ type: 'closed', port: server.port, concurrency: 3, seconds: 2.5 });
    await server.request<OverloadServerStats>({ type: 'stats' });
  }
  const rows: StepRow[] = [];
  for (const multiple of STEPS) {
    for (const variant of VARIANTS) {
      rows.push(await step(load, servers.get(variant) as Child, variant, multiple, capacity));
    }
  }
  for (const server of servers.values()) server.stop();
  const capacityAfter = await closedLoopCapacity(load);
  load.stop();
  console.log(`closed-loop capacity after the steps ${round(capacityAfter)} calls/s`);
  rows.sort((a, b) => VARIANTS.indexOf(a.variant) - VARIANTS.indexOf(b.variant) || a.multiple - b.multiple);

  const loadAverage = loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');
  const machine = `${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${node().version}`;
  const when = `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return {
    when,
    machine,
    loadAverage,
    quick,
    capacity,
    capacityProbes,
    capacityClosed,
    capacityAfter,
    unloaded,
    stepSeconds: STEP_SECONDS,
    rows,
  };
}

/** Writes the outputs of a run: results JSON, and unless quick the SVG and the README section. */
function report(data: RunData): void {
  const { when, machine, loadAverage, capacity, capacityAfter, unloaded, stepSeconds, rows } = data;
  const open = data.capacityProbes !== undefined;
  const ofCapacity = open
    ? 'of capacity (best sustained open-loop goodput, no limit)'
    : 'of capacity (closed loop)';
  const adaptive3x = rows.find((r) => r.variant === 'adaptive' && r.multiple === 3) as StepRow;
  const none3x = rows.find((r) => r.variant === 'none' && r.multiple === 3) as StepRow;
  const latencyOk = adaptive3x.p99 <= 3 * unloaded.admittedP99;
  // The handler alone takes WAIT_MS + CPU_MS; an unloaded p99 far above that means the machine's
  // neighbours, not the server, set the latencies, and the bound "3x unloaded p99" is loose.
  const noisy = unloaded.admittedP99 > 2 * (WAIT_MS + CPU_MS);
  const goodputOk = adaptive3x.goodput >= 0.85 * capacity;
  const verdict = [
    `- adaptive at 3x: admitted p99 ${adaptive3x.p99} ms vs 3x unloaded p99 = ${round(3 * unloaded.admittedP99, 1)} ms: **${latencyOk ? 'holds' : 'missed'}**`,
    `- adaptive at 3x: goodput ${adaptive3x.goodput}/s = ${Math.round((100 * adaptive3x.goodput) / capacity)}% ${ofCapacity} (target >= 85%): **${goodputOk ? 'holds' : 'missed'}**`,
    ...(noisy
      ? [
          `- **Not a fair judge**: the unloaded p99 (${round(unloaded.admittedP99, 1)} ms) is more than twice what the handler takes (${WAIT_MS + CPU_MS} ms), so the machine's other load set the latencies (load average ${loadAverage} over 1/5/15 min at the end, on ${cpus().length} CPUs); the latency bound above is correspondingly loose.`,
        ]
      : []),
    `- no limit at 3x: goodput ${none3x.goodput}/s = ${Math.round((100 * none3x.goodput) / capacity)}% ${ofCapacity}, admitted p99 ${none3x.p99} ms`,
  ].join('\n');

  const section = [
    '<!-- overload:start (generated by `npm run bench:overload`; edit bench/overload.ts, not this) -->',
    `Run: ${when}, ${machine}, load average ${loadAverage} (1/5/15 min) at the end${data.quick ? ', **--quick**' : ''}.`,
    `Handler: waits ${WAIT_MS} ms, then burns ${CPU_MS} ms of CPU. Measured capacity **${round(capacity)} calls/s**`,
    ...(open
      ? [
          `(the best sustained open-loop goodput with no limit; ${CAPACITY_STEP_SECONDS} s steps at ${(data.capacityProbes ?? []).map((p) => `${p.rate}${p.sustained ? '' : ' (not sustained)'}`).join(', ')} calls/s;`,
          `closed loop, 128 callers: ${round(data.capacityClosed ?? Number.NaN)} calls/s before the steps, ${round(capacityAfter)} after);`,
        ]
      : [`(closed loop; ${round(capacityAfter)} calls/s when measured again after the steps);`]),
    `unloaded (0.1x) latency p50 ${round(unloaded.admittedP50, 1)} ms, p99 **${round(unloaded.admittedP99, 1)} ms**.`,
    `${stepSeconds} s per step, deadline ${DEADLINE_MS} ms per call, one server per variant, steps interleaved across variants.`,
    '',
    table(rows, capacity, open),
    '',
    verdict,
    '',
    '![goodput and admitted p99 against offered load](overload.svg)',
    '<!-- overload:end -->',
  ].join('\n');
  console.log(`\n${table(rows, capacity, open)}\n\n${verdict}`);

  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'overload.json'), `${JSON.stringify(data, null, 2)}\n`);
  if (data.quick) return;
  writeFileSync(join(ROOT, 'bench', 'overload.svg'), svg(rows, capacity, unloaded.admittedP99, open));
  const readmePath = join(ROOT, 'bench', 'README.md');
  const readme = readFileSync(readmePath, 'utf8');
  const startAt = readme.indexOf('<!-- overload:start');
  const endMarker = '<!-- overload:end -->';
  const endAt = readme.indexOf(endMarker);
  if (startAt < 0 || endAt < 0) throw new Error('bench/README.md has no overload markers');
  writeFileSync(readmePath, readme.slice(0, startAt) + section + readme.slice(endAt + endMarker.length));
}

/** `--render`: rewrite the SVG and the README section from bench/results/overload.json, without measuring. */
async function main() {
  const resultsPath = join(ROOT, 'bench', 'results', 'overload.json');
  const data = args.render ? (JSON.parse(readFileSync(resultsPath, 'utf8')) as RunData) : await measure();
  report(data);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
