/**
 * Every built package imports from both module systems: CommonJS `require` and ESM `import`
 * (through Node's CommonJS interop, which must find the named exports).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

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
};

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
