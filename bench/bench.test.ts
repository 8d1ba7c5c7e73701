/**
 * Smoke test: the benchmark still runs end to end (every variant starts, serves and reports without
 * errors). It judges nothing about speed; `npm run bench` does that.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientVariants } from './client-variants';
import { serverVariants } from './server-variants';

/**
 * `--node` for the bench: a symlink to the Node running these tests, so the suite measures on the
 * line it runs on (the Node 24 CI run soaks on Node 24). The measured processes report the path
 * they were started as, so the test sees whether `--node` reached them: the version alone could
 * not tell, since the orchestrator runs on this same Node.
 */
function nodeLink(): string {
  const link = join(mkdtempSync(join(tmpdir(), 'weft-bench-node-')), 'node');
  symlinkSync(process.execPath, link);
  return link;
}

describe('npm run bench --smoke', () => {
  it('measures every variant on both workloads with no failed calls', { timeout: 240_000 }, () => {
    const out = join(mkdtempSync(join(tmpdir(), 'weft-bench-')), 'smoke.json');
    const node = nodeLink();
    execFileSync(
      'npm',
      ['run', 'bench:run', '--', '--smoke', '--calls', '100', '--node', node, '--out', out],
      {
        cwd: join(__dirname, '..'),
        stdio: ['ignore', 'ignore', 'inherit'],
        timeout: 230_000,
      },
    );
    const report = JSON.parse(readFileSync(out, 'utf8')) as {
      machine: { node: string; nodePath: string; nodeChosenBy: string };
      rows: {
        side: string;
        workload: string;
        variant: string;
        errors: number;
        cpuMicrosPerCall: number;
        ratio: number;
      }[];
    };
    expect(report.machine).toMatchObject({ node: process.version, nodePath: node, nodeChosenBy: '--node' });
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
    const node = nodeLink();
    execFileSync('npm', ['run', 'bench:run', '--', '--soak', '4000', '--node', node, '--out', out], {
      cwd: join(__dirname, '..'),
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 230_000,
    });
    const report = JSON.parse(readFileSync(out, 'utf8')) as {
      pass: boolean;
      node: { version: string; path: string };
      calls: number;
      handlesAfter: number;
      handlesIdle: number;
    };
    expect(report.node).toMatchObject({ version: process.version, path: node });
    expect(report.calls).toBe(4000);
    expect(report.handlesAfter).toBeLessThanOrEqual(report.handlesIdle);
    expect(report.pass).toBe(true);
  });

  it('counts the bytes a server variant allocates per call, and names where (npm run bench:alloc --sites, short run)', {
    timeout: 120_000,
  }, () => {
    const root = join(__dirname, '..');
    execFileSync('npx', ['tsc', '-p', 'bench/tsconfig.json'], { cwd: root, stdio: 'inherit' });
    const table = execFileSync(
      process.execPath,
      [
        'bench/dist/bench/allocations.js',
        '--server',
        'bare,context',
        '--calls',
        '5000',
        '--repeat',
        '1',
        '--sites',
        // Long enough a list that weft's own sites (about 130 bytes per call each on Node 26, just
        // under the 40th site there) are always in it.
        '200',
        '--node',
        nodeLink(),
      ],
      { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 110_000 },
    );
    const bytes = (variant: string) =>
      Number(new RegExp(`^\\| ${variant} \\| (\\d+) \\|`, 'm').exec(table)?.[1]);
    // A unary call through bare grpc-js allocates kilobytes (metadata, buffers, the call objects);
    // weft's context adds its own call state on top.
    expect(bytes('bare')).toBeGreaterThan(2000);
    expect(bytes('context')).toBeGreaterThan(bytes('bare'));
    // The sites: one table per variant; weft's own functions appear in the context's, never in bare's.
    const sitesOf = (variant: string) => {
      const start = table.indexOf(`\n${variant}: the 200 functions`);
      expect(start).toBeGreaterThan(0);
      const rest = table.slice(start + 1);
      const end = rest.indexOf('\n\n', rest.indexOf('|---|'));
      return [...(end < 0 ? rest : rest.slice(0, end)).matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => ({
        bytes: Number(m[1]),
        site: m[2] ?? '',
      }));
    };
    const bare = sitesOf('bare');
    const context = sitesOf('context');
    expect(bare.length).toBeGreaterThan(10);
    expect(bare.some((s) => s.site.includes('@grpc/grpc-js/'))).toBe(true);
    expect(bare.some((s) => s.site.includes('@weft/'))).toBe(false);
    expect(context.some((s) => s.site.includes('@weft/core/'))).toBe(true);
  });
});
