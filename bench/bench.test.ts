/**
 * Smoke test: the benchmark still runs end to end (every variant starts, serves and reports without
 * errors). It judges nothing about speed; `npm run bench` does that.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientVariants } from './client-variants';
import { serverVariants } from './server-variants';

describe('npm run bench --smoke', () => {
  it('measures every variant on both workloads with no failed calls', { timeout: 240_000 }, () => {
    const out = join(mkdtempSync(join(tmpdir(), 'weft-bench-')), 'smoke.json');
    execFileSync('npm', ['run', 'bench:run', '--', '--smoke', '--calls', '100', '--out', out], {
      cwd: join(__dirname, '..'),
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 230_000,
    });
    const report = JSON.parse(readFileSync(out, 'utf8')) as {
      rows: {
        side: string;
        workload: string;
        variant: string;
        errors: number;
        cpuMicrosPerCall: number;
        ratio: number;
      }[];
    };
    const seen = (side: string) => new Set(report.rows.filter((r) => r.side === side).map((r) => r.variant));
    expect([...seen('server')].sort()).toEqual(Object.keys(serverVariants).sort());
    expect([...seen('client')].sort()).toEqual(Object.keys(clientVariants).sort());
    expect(report.rows.length).toBe(
      (Object.keys(serverVariants).length + Object.keys(clientVariants).length) * 2,
    );
    for (const row of report.rows) {
      expect(row.errors, `${row.side}/${row.workload}/${row.variant}`).toBe(0);
      expect(row.cpuMicrosPerCall).toBeGreaterThan(0);
      expect(Number.isFinite(row.ratio)).toBe(true);
    }
  });

  it('soaks the full preset without heap growth or leaked handles (short run)', { timeout: 240_000 }, () => {
    const out = join(mkdtempSync(join(tmpdir(), 'weft-soak-')), 'soak.json');
    execFileSync('npm', ['run', 'bench:run', '--', '--soak', '4000', '--out', out], {
      cwd: join(__dirname, '..'),
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 230_000,
    });
    const report = JSON.parse(readFileSync(out, 'utf8')) as {
      pass: boolean;
      calls: number;
      handlesAfter: number;
      handlesIdle: number;
    };
    expect(report.calls).toBe(4000);
    expect(report.handlesAfter).toBeLessThanOrEqual(report.handlesIdle);
    expect(report.pass).toBe(true);
  });
});
