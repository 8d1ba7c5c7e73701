/**
 * Every built package imports from both module systems: CommonJS `require` and ESM `import`
 * (through Node's CommonJS interop, which must find the named exports). Then the published form:
 * each package is packed with `npm pack`, the tarballs are unpacked into a fresh project's
 * node_modules (as `npm install <tarball>` does) and imported from a CommonJS and an ESM app; the
 * tarball holds the license and the package.json the fields a registry user relies on.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const packages = readdirSync(join(root, 'packages')).filter((name) =>
  existsSync(join(root, 'packages', name, 'src', 'index.ts')),
);

/** Named exports each package must expose; a rename or a broken re-export fails here. */
const expectedExports: Record<string, string[]> = {
  core: [
    'selector',
    'recovery',
    'getCallContext',
    'serverInterceptors',
    'clientInterceptors',
    'observeServer',
  ],
  auth: ['jwtAuth', 'bearerToken'],
  tracing: ['serverTracing', 'clientTracing', 'currentTrace'],
  metrics: ['serverMetrics', 'clientMetrics', 'startMetricsServer', 'metricsHandler'],
  resilience: ['deadline', 'retry', 'rateLimit', 'concurrencyLimit', 'circuitBreaker'],
  etcd: ['registerService', 'watchConfig'],
  balancing: ['loadReporting', 'registerBalancingPolicies', 'serviceConfig'],
};

/**
 * grpc-js ranges other than the default `^1.10.0`: @weft/balancing builds on grpc-js's experimental
 * load balancer API, which may change in any minor release, so it accepts only the tested minor.
 */
const grpcRange: Record<string, string> = { balancing: '~1.14.0' };

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
}

describe.each(packages)('@weft/%s built output', (name) => {
  const wanted = expectedExports[name] ?? [];

  it('is built', () => {
    expect(existsSync(join(root, 'packages', name, 'dist', 'index.js')), 'run `npm run build` first').toBe(
      true,
    );
    expect(existsSync(join(root, 'packages', name, 'dist', 'index.d.ts'))).toBe(true);
  });

  it('loads with require()', () => {
    const out = node(['-e', `console.log(JSON.stringify(Object.keys(require('@weft/${name}'))))`]);
    expect(JSON.parse(out)).toEqual(expect.arrayContaining(wanted));
  });

  it('loads with import, named exports included', () => {
    const names = wanted.join(', ');
    const out = node([
      '--input-type=module',
      '-e',
      `import { ${names || 'default as d'} } from '@weft/${name}'; console.log([${names || 'd'}].map((x) => typeof x).join(','));`,
    ]);
    expect(
      out
        .trim()
        .split(',')
        .every((t) => t === 'function'),
    ).toBe(true);
  });
});

interface PackageJson {
  name: string;
  license?: string;
  type?: string;
  engines?: Record<string, string>;
  repository?: { type?: string; url?: string; directory?: string };
  files?: string[];
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/** `npm pack` into a scratch directory (ignored by git), unpacked under `<scratch>/node_modules`. */
const scratch = join(root, '.vitest-tmp', `packaging-${process.pid}`);
const packed = new Map<string, { files: string[]; dir: string }>();

/** The package a bare specifier names (`@scope/name/sub` -> `@scope/name`), or undefined for a builtin. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('node:') || builtinModules.includes(specifier)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

describe('published tarballs', () => {
  const license = readFileSync(join(root, 'LICENSE'), 'utf8');

  beforeAll(() => {
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync(join(scratch, 'node_modules', '@weft'), { recursive: true });
    for (const name of packages) {
      const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], {
        cwd: join(root, 'packages', name),
        encoding: 'utf8',
      });
      const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
      if (info === undefined) throw new Error(`npm pack printed nothing for ${name}`);
      const dir = join(scratch, 'node_modules', '@weft', name);
      mkdirSync(dir);
      execFileSync('tar', ['xzf', join(scratch, info.filename), '-C', dir, '--strip-components=1']);
      packed.set(name, { files: info.files.map((f) => f.path), dir });
    }
  }, 120_000);

  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('the repository has the full Apache License 2.0 text, as package.json says', () => {
    expect(license).toContain('Apache License\n                           Version 2.0, January 2004');
    expect(license).toContain('TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION');
    expect(license).toContain('END OF TERMS AND CONDITIONS');
    expect(license.length).toBeGreaterThan(11_000);
  });

  describe.each(packages)('@weft/%s', (name) => {
    const pkg = (): PackageJson =>
      JSON.parse(readFileSync(join(packed.get(name)?.dir ?? '', 'package.json'), 'utf8')) as PackageJson;

    it('holds LICENSE (the repository one), README.md and dist, and no sources or tests', () => {
      const files = packed.get(name)?.files ?? [];
      expect(files).toEqual(
        expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts']),
      );
      expect(files.filter((f) => /^(src|test)\/|tsbuildinfo$/.test(f))).toEqual([]);
      expect(readFileSync(join(packed.get(name)?.dir ?? '', 'LICENSE'), 'utf8')).toBe(license);
    });

    it('ships source maps that carry their sources (the TypeScript sources are not in the tarball)', () => {
      const { files = [], dir = '' } = packed.get(name) ?? {};
      const maps = files.filter((f) => f.endsWith('.js.map'));
      expect(maps.length).toBeGreaterThan(0);
      for (const map of maps) {
        const { sources, sourcesContent } = JSON.parse(readFileSync(join(dir, map), 'utf8')) as {
          sources: string[];
          sourcesContent?: (string | null)[];
        };
        expect(sourcesContent?.length, map).toBe(sources.length);
        expect(
          sourcesContent?.every((text) => typeof text === 'string' && text.length > 0),
          map,
        ).toBe(true);
      }
    });

    it('declares license, type, engines and repository', () => {
      const json = pkg();
      expect(json.license).toBe('Apache-2.0');
      // The build emits CommonJS (scripts/build.mjs): say so, so no tool guesses.
      expect(json.type).toBe('commonjs');
      expect(readFileSync(join(packed.get(name)?.dir ?? '', 'dist', 'index.js'), 'utf8')).toContain(
        'Object.defineProperty(exports, "__esModule"',
      );
      expect(json.engines).toEqual({ node: '>=20.12' });
      expect(json.repository).toEqual({
        type: 'git',
        url: expect.stringMatching(/^git\+https:\/\/.+\.git$/),
        directory: `packages/${name}`,
      });
    });

    it('bounds every peer range to one major (grpc-js 2.x is not accepted unseen)', () => {
      const peers = pkg().peerDependencies ?? {};
      expect(peers['@grpc/grpc-js']).toBe(grpcRange[name] ?? '^1.10.0');
      for (const [peer, range] of Object.entries(peers)) expect(range, peer).toMatch(/^[\^~]\d+\.\d+\.\d+$/);
    });

    it('declares every package its built code and types import', () => {
      const json = pkg();
      const declared = new Set([
        ...Object.keys(json.dependencies ?? {}),
        ...Object.keys(json.peerDependencies ?? {}),
      ]);
      const dist = join(packed.get(name)?.dir ?? '', 'dist');
      const used = new Set<string>();
      for (const file of readdirSync(dist).filter((f) => f.endsWith('.js') || f.endsWith('.d.ts'))) {
        // Comments out first: prose in JSDoc can read like `from "..."`.
        const text = readFileSync(join(dist, file), 'utf8').replace(/\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm, '');
        for (const [, spec] of text.matchAll(/(?:require\(|import\(|from )['"]([^'".][^'"]*)['"]/g)) {
          const dependency = spec === undefined ? undefined : packageOf(spec);
          if (dependency !== undefined) used.add(dependency);
        }
      }
      expect([...used].filter((dependency) => !declared.has(dependency))).toEqual([]);
    });
  });

  it.each(['commonjs', 'module'])('installed, every package loads in a %s app', (type) => {
    const app = join(scratch, type);
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: `app-${type}`, private: true, type }));
    const lines = packages.map((name) => {
      const names = (expectedExports[name] ?? []).join(', ');
      return type === 'module'
        ? `import { ${names} } from '@weft/${name}'; console.log('${name}', [${names}].map((x) => typeof x).join());`
        : `const { ${names} } = require('@weft/${name}'); console.log('${name}', [${names}].map((x) => typeof x).join());`;
    });
    lines.push(
      type === 'module'
        ? `import { createRequire } from 'node:module'; console.log(createRequire(import.meta.url).resolve('@weft/core'));`
        : `console.log(require.resolve('@weft/core'));`,
    );
    writeFileSync(join(app, 'index.js'), lines.join('\n'));
    const out = execFileSync(process.execPath, ['index.js'], { cwd: app, encoding: 'utf8' })
      .trim()
      .split('\n');
    // The copy from the tarball, not the workspace's symlink to packages/core.
    expect(out.pop()).toBe(join(scratch, 'node_modules', '@weft', 'core', 'dist', 'index.js'));
    expect(out).toEqual(
      packages.map((name) => `${name} ${(expectedExports[name] ?? []).map(() => 'function').join()}`),
    );
  });
});
