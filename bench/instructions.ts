/**
 * `npm run bench:instructions -- --server bare,preset`: instructions executed per call by a server
 * variant, counted by valgrind's callgrind. Unlike CPU time on a shared or virtual machine, the
 * count repeats run after run, so small ratios are trustworthy. Each server runs under callgrind,
 * is warmed up, has its counters zeroed, serves `--calls` unary calls from a plain load process,
 * and is dumped; the dump's total over the calls is the cost per call (JIT and GC included).
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HS256_TOKEN } from './credentials';
import type { LoadRequest, LoadResult } from './load-process';
import type { ControlMessage } from './proto';
import { serverVariants } from './server-variants';

const { values } = parseArgs({
  options: {
    server: { type: 'string', default: 'bare,ref:empty-layer,context,preset' },
    calls: { type: 'string', default: '2000' },
    workload: { type: 'string', default: 'unary' },
  },
});

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

async function measure(variant: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-callgrind-'));
  const server = fork(join(__dirname, 'server-process.js'), [variant], {
    execPath: 'valgrind',
    // --single-threaded: V8's GC and compiler work on the main thread, so the count repeats.
    execArgv: [
      '--tool=callgrind',
      `--callgrind-out-file=${join(dir, 'out.%p')}`,
      '-q',
      process.execPath,
      '--single-threaded',
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await once(server, (m) => (m.type === 'ready' ? m : undefined));
  const loader = fork(join(__dirname, 'load-process.js'), ['bare'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await once(loader, (m) => (m.type === 'ready' ? true : undefined));
  const run = (n: number) => {
    const request: LoadRequest = {
      type: 'run',
      port: ready.port,
      token: ready.token ?? HS256_TOKEN,
      workload: values.workload as LoadRequest['workload'],
      calls: n,
      concurrency: 16,
    };
    const done = once(loader, (m) => (m.type === 'result' ? m : undefined));
    loader.send(request);
    return done;
  };
  await run(calls); // warm-up: JIT, connection
  execFileSync('callgrind_control', ['--zero', String(server.pid)], { stdio: 'ignore' });
  const result = await run(calls);
  execFileSync('callgrind_control', ['--dump', String(server.pid)], { stdio: 'ignore' });
  loader.send({ type: 'stop' });
  server.send({ type: 'stop' });
  await new Promise((resolve) => server.once('exit', resolve));
  // callgrind writes the zeroed-then-dumped window as its own part (`Trigger: dump`).
  let instructions = 0;
  for (const file of readdirSync(dir)) {
    const text = readFileSync(join(dir, file), 'utf8');
    if (!/^desc: Trigger: .*dump/im.test(text)) continue;
    const total = /^(?:summary|totals): (\d+)/m.exec(text);
    if (total?.[1]) instructions = Number(total[1]);
  }
  rmSync(dir, { recursive: true, force: true });
  if (instructions === 0) throw new Error(`no callgrind dump for ${variant}`);
  return instructions / result.calls;
}

async function main() {
  const names = values.server.split(',').filter((n) => n in serverVariants);
  const perCall: Record<string, number> = {};
  for (const name of names) {
    perCall[name] = await measure(name);
    process.stderr.write(`${name}: ${Math.round(perCall[name] ?? 0)} instructions/call\n`);
  }
  const bare = perCall.bare;
  process.stdout.write('| variant | instructions per call | ratio to bare |\n|---|---|---|\n');
  for (const [name, n] of Object.entries(perCall)) {
    process.stdout.write(`| ${name} | ${Math.round(n)} | ${bare ? (n / bare).toFixed(3) : 'n/a'} |\n`);
  }
}

void main();
