/**
 * Real servers from Debian packages (Prometheus, etcd, Redis), started by tests on free ports in
 * temporary directories. In CI (`CI` set) a missing binary fails the test that needs it; locally
 * the test is skipped with a loud message. `WEFT_SERVER_TESTS=skip` skips them all on purpose (the
 * CI runs on Node 22 and 26, which test weft's own code; the Node 24 and 20 runs include them).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Binary {
  readonly name: string;
  readonly path: string | undefined;
  /** Whether tests needing it run: always in CI (and fail if it is missing), else only when present. */
  readonly run: boolean;
}

/**
 * Whether `WEFT_SERVER_TESTS=skip` asks to skip the tests that need `name` (said loudly on stderr, so
 * a log shows what did not run). Any other value than `skip`, `run` or empty is refused: a typo
 * must not turn into a silent skip or a silent run.
 */
export function serverTestsSkipped(name: string): boolean {
  const mode = process.env.WEFT_SERVER_TESTS ?? '';
  if (mode !== '' && mode !== 'skip' && mode !== 'run') {
    throw new Error(`WEFT_SERVER_TESTS must be "skip", "run" or unset, not "${mode}"`);
  }
  if (mode !== 'skip') return false;
  process.stderr.write(`\n*** SKIPPING tests that need ${name}: WEFT_SERVER_TESTS=skip ***\n\n`);
  return true;
}

export function binary(name: string, debianPackage: string): Binary {
  if (serverTestsSkipped(name)) return { name, path: undefined, run: false };
  let path: string | undefined;
  try {
    path = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    path = undefined;
  }
  const ci = Boolean(process.env.CI);
  if (path === undefined && !ci) {
    process.stderr.write(
      `\n*** SKIPPING tests that need ${name}: not installed (apt-get install ${debianPackage}); CI fails instead ***\n\n`,
    );
  }
  return { name, path, run: path !== undefined || ci };
}

/** The binary's path, or an error saying how to get it (what a CI run without it reports). */
export function requirePath(bin: Binary): string {
  if (bin.path === undefined) throw new Error(`${bin.name} is required for this test but is not installed`);
  return bin.path;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface Process {
  readonly child: ChildProcess;
  readonly dir: string;
  /** Everything the process printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Spawns `path` with `args` in a fresh temporary directory that `stop()` removes. */
export function startProcess(
  path: string,
  args: (dir: string) => string[],
  files: Record<string, string> = {},
): Process {
  const dir = mkdtempSync(join(tmpdir(), 'weft-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const child = spawn(path, args(dir), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  child.stdout?.on('data', (c: Buffer) => chunks.push(c.toString()));
  child.stderr?.on('data', (c: Buffer) => chunks.push(c.toString()));
  return {
    child,
    dir,
    output: () => chunks.join('').slice(-4000),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it resolves true, or fails with `what` and the process output. */
export async function waitUntil(what: string, check: () => Promise<boolean>, ms = 20_000, proc?: Process) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}\n${proc?.output() ?? ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface Prometheus {
  readonly url: string;
  /** Runs an instant query and returns its result vector. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

/** Starts Prometheus with `config` (YAML) plus extra files (rule files) in its directory. */
export async function startPrometheus(
  bin: Binary,
  config: string,
  files: Record<string, string> = {},
): Promise<Prometheus> {
  const port = await freePort();
  const proc = startProcess(
    requirePath(bin),
    (dir) => [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { 'prometheus.yml': config, ...files },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntil('prometheus to be ready', async () => (await fetch(`${url}/-/ready`)).ok, 30_000, proc);
  return {
    url,
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as { status: string; error?: string; data: { result: unknown[] } };
      if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
      return body.data.result as { metric: Record<string, string>; value: [number, string] }[];
    },
    stop: () => proc.stop(),
  };
}
