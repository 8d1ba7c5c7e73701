/**
 * Which Node.js binary the bench measures with. The orchestrator (run.ts, instructions.ts) runs on
 * whatever `node` npm finds; the measured processes (servers, load) are forked with this binary.
 *
 * `--node <path|line>` or `WEFT_BENCH_NODE` (the flag wins): a path to a node binary, or a major
 * line (`24`, `22`, `26`, `20`) or exact version, which scripts/node-line.mjs takes from the
 * `.node-lines` cache (installing it from the npm registry if missing). Default: Node 24 from the
 * cache when it is there (users run Node 24, so the headline tables are measured on it), else the
 * node running the bench, with a loud note.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The line the bench measures on by default: Active LTS, where users run weft. */
export const DEFAULT_LINE = '24';

export interface BenchNode {
  /** Absolute path of the binary the measured processes run on. */
  readonly path: string;
  /** Its `process.version`, e.g. `v24.22.3`. */
  readonly version: string;
  /** How it was chosen, for the output: `--node`, `WEFT_BENCH_NODE`, `default`, `fallback`. */
  readonly chosenBy: string;
}

// The compiled bench runs from bench/dist/bench/.
const root = join(__dirname, '..', '..', '..');

/** scripts/node-line.mjs: the line's binary path, or undefined when `installedOnly` and absent. */
function linePath(spec: string, installedOnly: boolean): string | undefined {
  try {
    return execFileSync(
      process.execPath,
      [join(root, 'scripts', 'node-line.mjs'), spec, ...(installedOnly ? ['--installed-only'] : [])],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', installedOnly ? 'ignore' : 'inherit'] },
    ).trim();
  } catch (error) {
    if (installedOnly) return undefined;
    throw error;
  }
}

function versionOf(path: string): string {
  return execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
}

/** Resolves the binary from the `--node` flag's value (undefined when not given) and the env. */
export function benchNode(flag: string | undefined): BenchNode {
  const env = process.env.WEFT_BENCH_NODE || undefined;
  const asked = flag ?? env;
  const chosenBy = flag !== undefined ? '--node' : 'WEFT_BENCH_NODE';
  if (asked !== undefined) {
    const path = /^\d+(\.\d+){0,2}$/.test(asked) ? linePath(asked, false) : resolve(asked);
    if (path === undefined || !existsSync(path)) throw new Error(`${chosenBy} ${asked}: no such node binary`);
    return { path, version: versionOf(path), chosenBy };
  }
  const cached = linePath(DEFAULT_LINE, true);
  if (cached !== undefined) return { path: cached, version: versionOf(cached), chosenBy: 'default' };
  process.stderr.write(
    `\n*** bench: Node ${DEFAULT_LINE} is not in .node-lines (node scripts/node-line.mjs ${DEFAULT_LINE} ` +
      `installs it): measuring with this process's Node ${process.version} instead ***\n\n`,
  );
  return { path: process.execPath, version: process.version, chosenBy: 'fallback' };
}

/** One line for the output: which node measured. */
export function describeNode(node: BenchNode): string {
  return `Node ${node.version} (${node.path}; chosen by ${node.chosenBy})`;
}
