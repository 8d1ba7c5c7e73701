/**
 * What the balancing benchmark (balance.ts) measured, and how it is written down: the tables and
 * verdict lines printed and put between the `balance` markers of bench/README.md. Everything a
 * report needs is in `RunData`, so `--render` can rewrite the README from the JSON alone.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export interface PolicyInfo {
  id: string;
  label: string;
  /** Whether the slow-replica targets apply to it. */
  judged: boolean;
  /** Whether its load carried user ids (consistent_hash). */
  keyed: boolean;
}

export interface PolicyRow {
  policy: string;
  round: number;
  /** Measured calls each replica received (counted by the replicas, failed calls included). */
  received: Record<string, number>;
  share: Record<string, number>;
  /** The same during the warm-up (the channel connecting, weights not yet in force). */
  warmupShare: Record<string, number>;
  calls: number;
  okRate: number;
  /** Failed calls by status code name. */
  errors: Record<string, number>;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** The slow replica's reported application utilization at the end of the window. */
  slowUtilization: number;
  /** Keyed load: keys seen, and keys answered by more than one replica (must be 0). */
  keysSeen?: number;
  keysOnSeveralReplicas?: number;
  /** How far behind schedule the generator fell at worst, ms. */
  maxLagMs: number;
  /** Seconds the replicas needed afterwards to finish (or drop) what they still held. */
  drainSeconds: number;
}

export interface MembershipResult {
  keys: number;
  /** Keys answered by the same replica in two rounds with three replicas (must be all). */
  stableKeys: number;
  /** Keys that failed in the second round. */
  errors: number;
  /** Keys whose replica changed when the fourth replica registered. */
  moved: number;
  /** Of those, the ones that moved to the new replica (must be all). */
  movedToNew: number;
  /** Keys the new replica took. */
  onNew: number;
  /** Seconds from starting the new replica to the first key reaching it. */
  joinSeconds: number;
  /** Keys back on their first replica after the fourth left (must be all). */
  backAfterLeave: number;
}

export interface RunData {
  when: string;
  machine: string;
  node: string;
  loadAverageStart: string;
  loadAverageEnd: string;
  quick: boolean;
  rounds: number;
  settings: {
    fastMs: number;
    slowMs: number;
    pool: number;
    rate: number;
    deadlineMs: number;
    warmupSeconds: number;
    measureSeconds: number;
    reportPeriodMs: number;
    keys: number;
    /** What the replicas reported as application utilization (WEFT_BALANCE_UTILIZATION). */
    utilization?: string;
    weightedRoundRobin: Record<string, string | boolean>;
  };
  targets: { slowShare: number; p99Ratio: number; movedShare: number };
  policies: PolicyInfo[];
  replicas: string[];
  rows: PolicyRow[];
  membership: MembershipResult;
}

export const round = (n: number, digits = 0) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : Number.NaN);
export const pct = (share: number, digits = 1) => `${round(100 * share, digits)}%`;
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const range = (xs: number[], f: (x: number) => string) =>
  xs.length > 1 ? ` (${f(Math.min(...xs))}-${f(Math.max(...xs))})` : '';

interface Summary {
  info: PolicyInfo;
  rows: PolicyRow[];
  share: (replica: string) => number;
  slowShares: number[];
  slowWarmupShare: number;
  p50: number;
  p99: number;
  p99s: number[];
  okRate: number;
  slowUtilization: number;
}

function summarize(data: RunData): Summary[] {
  return data.policies.map((info) => {
    const rows = data.rows.filter((r) => r.policy === info.id);
    return {
      info,
      rows,
      share: (replica: string) => median(rows.map((r) => r.share[replica] ?? 0)),
      slowShares: rows.map((r) => r.share.slow ?? 0),
      slowWarmupShare: median(rows.map((r) => r.warmupShare.slow ?? 0)),
      p50: median(rows.map((r) => r.p50)),
      p99: median(rows.map((r) => r.p99)),
      p99s: rows.map((r) => r.p99),
      okRate: median(rows.map((r) => r.okRate)),
      slowUtilization: median(rows.map((r) => r.slowUtilization)),
    };
  });
}

function policyTable(data: RunData, summaries: Summary[]): string {
  const lines = [
    `| policy | ${data.replicas.join(' | ')} | client p50 (ms) | client p99 (ms) | OK | slow replica's utilization report | slow's share in the warm-up |`,
    `|---|${data.replicas.map(() => '---|').join('')}---|---|---|---|---|`,
  ];
  for (const s of summaries) {
    const shares = data.replicas.map((name) =>
      name === 'slow' ? `**${pct(s.share(name))}**${range(s.slowShares, (x) => pct(x))}` : pct(s.share(name)),
    );
    lines.push(
      `| ${s.info.label} | ${shares.join(' | ')} | ${round(s.p50, 1)} | **${round(s.p99, 1)}**${range(s.p99s, (x) => String(round(x)))} | ${pct(s.okRate, 2)} | ${round(s.slowUtilization, 2)} | ${pct(s.slowWarmupShare)} |`,
    );
  }
  return lines.join('\n');
}

function membershipTable(m: MembershipResult): string {
  return [
    '| keys | same replica in two rounds (3 replicas) | moved when `fast-3` registered | of which to `fast-3` | back on their replica after `fast-3` left |',
    '|---|---|---|---|---|',
    `| ${m.keys} | ${m.stableKeys} | **${m.moved} (${pct(m.moved / m.keys)})** | ${m.movedToNew} | ${m.backAfterLeave} |`,
  ].join('\n');
}

function verdicts(data: RunData, summaries: Summary[]): string {
  const { slowShare, p99Ratio, movedShare } = data.targets;
  const rr = summaries.find((s) => s.info.id === 'round_robin') as Summary;
  const lines: string[] = [];
  for (const s of summaries.filter((x) => x.info.judged)) {
    const share = s.share('slow');
    const shareOk = share < slowShare;
    const p99Ok = s.p99 <= rr.p99 * p99Ratio;
    lines.push(
      `- ${s.info.label}: slow replica's share ${pct(share)} (target < ${pct(slowShare, 0)}): **${shareOk ? 'holds' : 'missed'}**; ` +
        `p99 ${round(s.p99, 1)} ms vs round robin's ${round(rr.p99, 1)} ms = ${round(s.p99 / rr.p99, 2)}x (target <= ${p99Ratio}x): **${p99Ok ? 'holds' : 'missed'}**`,
    );
  }
  const ch = summaries.find((s) => s.info.keyed);
  const m = data.membership;
  if (ch !== undefined) {
    const several = ch.rows.reduce((a, r) => a + (r.keysOnSeveralReplicas ?? 0), 0);
    const seen = ch.rows.reduce((a, r) => a + (r.keysSeen ?? 0), 0);
    const stable = several === 0 && m.stableKeys === m.keys;
    lines.push(
      `- ${ch.info.label}, stable membership: under load ${seen - several} of ${seen} keys (summed over rounds) and in two mapping rounds ${m.stableKeys} of ${m.keys} each reached one replica: **${stable ? 'holds' : 'missed'}**`,
    );
  }
  const movedOk = m.moved / m.keys <= movedShare && m.movedToNew === m.moved;
  lines.push(
    `- \`consistent_hash\`, a fourth replica registers: ${pct(m.moved / m.keys)} of the keys moved (target <= ${pct(movedShare, 0)}: 1/4 plus 5 points), ${m.movedToNew} of the ${m.moved} to the new replica (target: all): **${movedOk ? 'holds' : 'missed'}**; ` +
      `after it left, ${m.backAfterLeave} of ${m.keys} keys were back on their replica`,
  );
  return lines.join('\n');
}

/** The tables and verdicts, as printed. */
export function renderTables(data: RunData): string {
  const summaries = summarize(data);
  return `${policyTable(data, summaries)}\n\n${membershipTable(data.membership)}\n\n${verdicts(data, summaries)}`;
}

/** Replaces the README's section between the `balance` markers with this run's. */
export function writeReadmeSection(readmePath: string, data: RunData): void {
  const s = data.settings;
  const wrr = s.weightedRoundRobin;
  const section = [
    '<!-- balance:start (generated by `npm run bench:balance`; edit bench/balance.ts, not this) -->',
    `Run: ${data.when}, ${data.machine}, Node ${data.node}, load average ${data.loadAverageStart} at the start and ${data.loadAverageEnd} at the end (1/5/15 min)${data.quick ? ', **--quick**' : ''}.`,
    `Replicas hold one of ${s.pool} workers ${s.fastMs} ms (fast) or ${s.slowMs} ms (slow) per call; ${s.rate} calls/s open loop, deadline ${s.deadlineMs} ms;`,
    `per policy a fresh channel, ${s.warmupSeconds} s warm-up then ${s.measureSeconds} s measured; ${data.rounds} round(s), policies interleaved: medians, (min-max) over rounds.`,
    `weighted_round_robin: reports every ${wrr.oob_load_reporting_period}, blackout ${wrr.blackout_period}, weights every ${wrr.weight_update_period}; the replicas report ${s.utilization === 'pool' || s.utilization === undefined ? "their pool's mean usage" : `loadReporting's \`${s.utilization}\``} as application utilization.`,
    '',
    renderTables(data),
    '<!-- balance:end -->',
  ].join('\n');
  const readme = readFileSync(readmePath, 'utf8');
  const startAt = readme.indexOf('<!-- balance:start');
  const endMarker = '<!-- balance:end -->';
  const endAt = readme.indexOf(endMarker);
  if (startAt < 0 || endAt < 0) throw new Error(`${readmePath} has no balance markers`);
  writeFileSync(readmePath, readme.slice(0, startAt) + section + readme.slice(endAt + endMarker.length));
}
