/**
 * `npm run bench:instructions -- --server bare,preset --client bare,preset`: instructions executed
 * per call by a server variant (or a client variant, on the load process), counted by valgrind's
 * callgrind. Unlike CPU time on a shared or virtual machine, the count repeats run after run, so
 * small ratios are trustworthy. The measured process runs under callgrind, is warmed up, has its
 * counters zeroed, serves (or makes) `--calls` unary calls against a bare peer, and is dumped; the
 * dump's total over the calls is the cost per call (JIT and GC included).
 */
import { execFileSync, fork } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clientVariants } from './client-variants';
import { HS256_TOKEN } from './credentials';
import type { LoadRequest, LoadResult } from './load-process';
import { median } from './median';
import { benchNode, describeNode } from './node-binary';
import type { ControlMessage } from './proto';
import { serverVariants } from './server-variants';

const { values } = parseArgs({
  options: {
    server: { type: 'string', default: 'bare,ref:empty-layer,context,preset' },
    client: { type: 'string', default: '' },
    /** Servers run with weft's `setAsyncContext(false)`: what weft costs apart from async hooks. */
    'no-async-context': { type: 'boolean', default: false },
    calls: { type: 'string', default: '2000' },
    /**
     * Calls before the counted window (default: `--calls`). V8 keeps compiling hot functions for a
     * while: callgrind profiles show its optimizing compiler inside the window after a warm-up of
     * 1000-2000 calls, which a longer warm-up leaves out.
     */
    warmup: { type: 'string' },
    /** Calls in flight, as in `npm run bench`. */
    concurrency: { type: 'string', default: '16' },
    /**
     * Measurements per variant, interleaved (A B C A B C ...); the table shows the median. How many
     * requests the slowed-down process finds per read of its socket depends on timing, so a single
     * count moves by a few percent from run to run.
     */
    repeat: { type: 'string', default: '3' },
    workload: { type: 'string', default: 'unary' },
    /** The Node binary to count (and serve the peer): a path or a line (`24`); bench/node-binary.ts. */
    node: { type: 'string' },
    /**
     * Keep each callgrind dump in this directory (`<side>-<variant>-<round>.out`) and run the
     * measured process with `--perf-basic-prof`, so `bench/callgrind-functions.py` can name the JIT
     * code: a per-function profile of the counted window.
     */
    profile: { type: 'string', default: '' },
  },
});
const node = benchNode(values.node);

const calls = Number(values.calls);

function once<T>(child: ReturnType<typeof fork>, pick: (m: ControlMessage | LoadResult) => T | undefined) {
  return new Promise<T>((resolve) => {
    const on = (m: ControlMessage | LoadResult) => {
      const value = pick(m);
      if (value !== undefined) {
        child.off('message', on);
        resolve(value);
      }
    };
    child.on('message', on);
  });
}

/** Forks `script`, under callgrind when `counted` (writing its dumps into `dir`). */
function start(script: string, variant: string, counted: boolean, dir: string) {
  const options = {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'] as ('ignore' | 'inherit' | 'ipc')[],
    env: { ...process.env, WEFT_BENCH_ASYNC_CONTEXT: values['no-async-context'] ? 'off' : 'on' },
  };
  if (!counted) return fork(join(__dirname, script), [variant], { ...options, execPath: node.path });
  return fork(join(__dirname, script), [variant], {
    ...options,
    execPath: 'valgrind',
    // --single-threaded: V8's GC and compiler work on the main thread, so the count repeats.
    execArgv: [
      '--tool=callgrind',
      `--callgrind-out-file=${join(dir, 'out.%p')}`,
      '-q',
      node.path,
      '--single-threaded',
      ...(values.profile ? ['--perf-basic-prof'] : []),
    ],
  });
}

/** Instructions per call of one side's variant; the other side runs bare grpc-js, uncounted. */
async function measure(side: 'server' | 'client', variant: string, round: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-callgrind-'));
  const server = start('server-process.js', side === 'server' ? variant : 'bare', side === 'server', dir);
  const ready = await once(server, (m) => (m.type === 'ready' ? m : undefined));
  const loader = start('load-process.js', side === 'client' ? variant : 'bare', side === 'client', dir);
  const loaderReady = await once(loader, (m) => (m.type === 'ready' ? m : undefined));
  for (const m of [ready, loaderReady]) {
    if (m.node?.version !== node.version || m.node.path !== node.path) {
      throw new Error(`a ${variant} process runs on ${JSON.stringify(m.node)}, not ${describeNode(node)}`);
    }
  }
  const counted = side === 'server' ? server : loader;
  const run = (n: number) => {
    const request: LoadRequest = {
      type: 'run',
      port: ready.port,
      token: ready.token ?? HS256_TOKEN,
      workload: values.workload as LoadRequest['workload'],
      calls: n,
      concurrency: Number(values.concurrency),
    };
    const done = once(loader, (m) => (m.type === 'result' ? m : undefined));
    loader.send(request);
    return done;
  };
  await run(Number(values.warmup ?? calls)); // warm-up: JIT, connection
  execFileSync('callgrind_control', ['--zero', String(counted.pid)], { stdio: 'ignore' });
  const result = await run(calls);
  execFileSync('callgrind_control', ['--dump', String(counted.pid)], { stdio: 'ignore' });
  loader.send({ type: 'stop' });
  server.send({ type: 'stop' });
  await new Promise((resolve) => counted.once('exit', resolve));
  // callgrind writes the zeroed-then-dumped window as its own part (`Trigger: dump`).
  let instructions = 0;
  for (const file of readdirSync(dir)) {
    const text = readFileSync(join(dir, file), 'utf8');
    if (!/^desc: Trigger: .*dump/im.test(text)) continue;
    const total = /^(?:summary|totals): (\d+)/m.exec(text);
    if (total?.[1]) instructions = Number(total[1]);
    if (total?.[1] && values.profile) {
      const name = `${side}-${variant.replace(/[^\w.-]/g, '_')}-${round}`;
      copyFileSync(join(dir, file), join(values.profile, `${name}.out`));
      const map = `/tmp/perf-${counted.pid}.map`;
      if (existsSync(map)) {
        copyFileSync(map, join(values.profile, `${name}.map`));
        rmSync(map);
      }
    }
  }
  // `--perf-basic-prof` also makes V8 write its own log into the working directory: not wanted.
  for (const file of readdirSync('.')) {
    if (file.startsWith('isolate-') && file.endsWith(`-${counted.pid}-v8.log`)) rmSync(file);
  }
  rmSync(dir, { recursive: true, force: true });
  if (instructions === 0) throw new Error(`no callgrind dump for ${variant}`);
  return instructions / result.calls;
}

async function main() {
  const repeat = Math.max(1, Number(values.repeat));
  process.stderr.write(`bench:instructions: counting on ${describeNode(node)}\n`);
  process.stdout.write(`${describeNode(node)}\n`);
  if (values.profile) mkdirSync(values.profile, { recursive: true });
  for (const side of ['server', 'client'] as const) {
    const known = side === 'server' ? serverVariants : clientVariants;
    const names = values[side].split(',').filter((n) => n in known);
    if (names.length === 0) continue;
    const counts = new Map<string, number[]>(names.map((n) => [n, []]));
    for (let round = 0; round < repeat; round++) {
      for (const name of names) {
        const n = await measure(side, name, round + 1);
        counts.get(name)?.push(n);
        process.stderr.write(
          `${side} ${name} (round ${round + 1}/${repeat}): ${Math.round(n)} instructions/call\n`,
        );
      }
    }
    const perCall = new Map([...counts].map(([name, list]) => [name, median(list)]));
    const bare = perCall.get('bare');
    process.stdout.write(
      `\n${side}\n\n| variant | instructions per call (median of ${repeat}) | spread | ratio to bare |\n|---|---|---|---|\n`,
    );
    for (const [name, n] of perCall) {
      const list = counts.get(name) ?? [];
      const spread = (Math.max(...list) - Math.min(...list)) / n;
      process.stdout.write(
        `| ${name} | ${Math.round(n)} | ±${((100 * spread) / 2).toFixed(1)}% | ${bare ? (n / bare).toFixed(3) : 'n/a'} |\n`,
      );
    }
  }
}

void main();
