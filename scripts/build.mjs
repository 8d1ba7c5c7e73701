// Builds every package to CommonJS + .d.ts in dependency order (core first: the others import its
// built types through node_modules). One CJS build, no ESM twin: Node's ESM loader imports it with
// named exports, and a single copy keeps one AsyncLocalStorage per process (no dual-package hazard).
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const order = ['core', 'auth', 'tracing', 'metrics', 'resilience', 'etcd', 'balancing'];
for (const name of order) {
  const dir = join(root, 'packages', name);
  if (!existsSync(join(dir, 'src', 'index.ts'))) continue;
  rmSync(join(dir, 'dist'), { recursive: true, force: true });
  execFileSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.build.json')], { stdio: 'inherit' });
}
