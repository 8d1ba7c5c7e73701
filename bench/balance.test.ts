/**
 * Smoke test: `npm run bench:balance -- --quick` still runs end to end through a real etcd (every
 * policy measured, the replicas' counts agree with the client's, the consistent-hash membership
 * check done). It judges nothing about the shares or the latencies; the full run does that.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binary } from '../test/harness/servers';

const etcd = binary('etcd', 'etcd-server');
const root = join(__dirname, '..');

describe.skipIf(!etcd.run)('npm run bench:balance --quick', () => {
  it('measures every policy through etcd and maps keys across a membership change', {
    timeout: 180_000,
  }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-balance-'));
    const out = join(dir, 'balance.json');
    // --node: a symlink to the Node running these tests, so the children run on the tested line.
    const node = join(dir, 'node');
    symlinkSync(process.execPath, node);
    execFileSync('npx', ['tsc', '-p', 'bench/tsconfig.json'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    execFileSync(process.execPath, ['bench/dist/bench/balance.js', '--quick', '--node', node, '--out', out], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 170_000,
    });
    const report = JSON.parse(readFileSync(out, 'utf8')) as {
      node: string;
      quick: boolean;
      settings: { rate: number; measureSeconds: number };
      rows: {
        policy: string;
        calls: number;
        okRate: number;
        received: Record<string, number>;
        keysOnSeveralReplicas?: number;
      }[];
      membership: { keys: number; stableKeys: number; errors: number; onNew: number; backAfterLeave: number };
    };
    expect(report.node).toBe(process.version);
    expect(report.quick).toBe(true);
    expect(report.rows.map((r) => r.policy)).toEqual([
      'round_robin',
      'least_request_2',
      'least_request_3',
      'weighted_round_robin',
      'consistent_hash',
    ]);
    const expected = Math.round(report.settings.rate * report.settings.measureSeconds);
    for (const row of report.rows) {
      expect(row.calls, row.policy).toBe(expected);
      // Every measured call reached a replica and was counted there, failed ones included.
      const received = Object.values(row.received).reduce((a, b) => a + b, 0);
      expect(received, row.policy).toBe(row.calls);
      expect(row.okRate, row.policy).toBeGreaterThan(0.5);
    }
    expect(report.rows.at(-1)?.keysOnSeveralReplicas).toBe(0);
    const m = report.membership;
    expect(m.errors).toBe(0);
    expect(m.stableKeys).toBe(m.keys);
    expect(m.onNew).toBeGreaterThan(0);
    expect(m.backAfterLeave).toBe(m.keys);
  });
});
