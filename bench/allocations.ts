/**
 * `npm run bench:alloc -- --server bare,context,preset`: bytes a server variant allocates on the
 * JavaScript heap per unary call. Instruction counts of a 2000-call window move by 5-10% with
 * where a mark-compact lands; the bytes allocated do not (±0.2% between runs here), so this is the
 * measure for "no extra allocation per call".
 *
 * How: the server runs with `--trace-gc-nvp`, which prints each collection's heap size before and
 * after it. Over a window of `--calls` calls (after as many warm-up calls), the bytes allocated are
 * the heap's growth (`heapUsed` at the end minus at the start) plus what every collection in the
 * window freed (its `start_object_size - end_object_size`). The sum of nvp's own `allocated=`
 * fields would be quantized: V8 collects each time the young generation fills, so it moves in
 * steps of a whole young generation.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AllocationSite } from './allocation-sites';
import { HS256_TOKEN } from './credentials';
import type { LoadRequest, LoadResult } from './load-process';
import { median } from './median';
import { benchNode, describeNode } from './node-binary';
import type { ControlMessage } from './proto';
import { serverVariants } from './server-variants';

const { values } = parseArgs({
  options: {
    server: { type: 'string', default: 'bare,context,preset' },
    calls: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '16' },
    /** Measurements per variant, interleaved; the table shows the median. */
    repeat: { type: 'string', default: '3' },
    workload: { type: 'string', default: 'unary' },
    /** The Node binary to measure (a path or a line such as `24`); bench/node-binary.ts. */
    node: { type: 'string' },
    /**
     * Also list the N functions that allocate the most per call (V8's sampling heap profiler over
     * a window, freed objects included: bench/allocation-sites.ts), from one extra window per
     * variant after the counted rounds: the profiler allocates too, so that window's bytes are
     * not in the table.
     */
    sites: { type: 'string' },
  },
});
const node = benchNode(values.node);

type Message = ControlMessage | LoadResult;

function next<M extends Message['type']>(child: ReturnType<typeof fork>, type: M) {
  return new Promise<Extract<Message, { type: M }>>((resolve, reject) => {
    const on = (m: Message) => {
      if (m.type === 'error') reject(new Error(m.message));
      if (m.type !== type) return;
      child.off('message', on);
      resolve(m as Extract<Message, { type: M }>);
    };
    child.on('message', on);
  });
}

/** Bytes allocated per call by one server variant, in one window (and its allocation sites when asked). */
async function measure(
  variant: string,
  withSites: boolean,
): Promise<{ bytes: number; collections: number; sites: AllocationSite[] }> {
  const server = fork(join(__dirname, 'server-process.js'), [variant], {
    execPath: node.path,
    execArgv: ['--trace-gc-nvp'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let trace = '';
  server.stdout?.on('data', (chunk: Buffer) => {
    trace += chunk.toString();
  });
  const ready = await next(server, 'ready');
  const loader = fork(join(__dirname, 'load-process.js'), ['bare'], {
    execPath: node.path,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await next(loader, 'ready');
  const run = (calls: number) => {
    const request: LoadRequest = {
      type: 'run',
      port: ready.port,
      token: ready.token ?? HS256_TOKEN,
      workload: values.workload as LoadRequest['workload'],
      calls,
      concurrency: Number(values.concurrency),
    };
    const done = next(loader, 'result');
    loader.send(request);
    return done;
  };
  const heapUsed = async () => {
    const probe = next(server, 'cpu');
    server.send({ type: 'cpu', id: 0 });
    return (await probe).heap;
  };
  // The trace arrives through a pipe: give it a moment to catch up before and after the window.
  const settle = () => new Promise((resolve) => setTimeout(resolve, 200));
  const calls = Number(values.calls);
  await run(calls); // warm-up: JIT, connection, the heap's steady size
  await settle();
  const sites = async (type: 'sites-start' | 'sites-stop') => {
    const reply = next(server, 'sites');
    server.send({ type });
    return (await reply).sites;
  };
  if (withSites) await sites('sites-start');
  const before = await heapUsed();
  const from = trace.length;
  const result = await run(calls);
  await settle();
  const after = await heapUsed();
  const allocated = withSites ? await sites('sites-stop') : [];
  let freed = 0;
  let collections = 0;
  // Node 22 and 24 print `start_object_size=N end_object_size=N`, Node 20 `total_size_before=N
  // total_size_after=N`, Node 26 JSON (`"start_object_size":N,"end_object_size":N`).
  const sizes =
    /"?(?:start_object_size|total_size_before)"?[=:](\d+)[ ,]"?(?:end_object_size|total_size_after)"?[=:](\d+)/g;
  for (const m of trace.slice(from).matchAll(sizes)) {
    freed += Number(m[1]) - Number(m[2]);
    collections++;
  }
  if (collections === 0) {
    throw new Error(`no collection in a window of ${calls} calls of ${variant}: give --calls more`);
  }
  loader.send({ type: 'stop' });
  server.send({ type: 'stop' });
  await new Promise((resolve) => server.once('exit', resolve));
  const perCall = allocated.map(({ site, bytes }) => ({ site, bytes: bytes / result.calls }));
  return { bytes: (after - before + freed) / result.calls, collections, sites: perCall };
}

async function main() {
  const names = values.server.split(',').filter((name) => name in serverVariants);
  if (names.length === 0) throw new Error(`no known server variant in "${values.server}"`);
  process.stderr.write(`bench:alloc: measuring on ${describeNode(node)}\n`);
  process.stdout.write(`${describeNode(node)}\n`);
  const runs = new Map<string, number[]>(names.map((name) => [name, []]));
  const repeat = Math.max(1, Number(values.repeat));
  const topSites = Number(values.sites ?? 0);
  const sitesOf = new Map<string, AllocationSite[]>();
  for (let round = 1; round <= repeat; round++) {
    for (const name of names) {
      const { bytes, collections } = await measure(name, false);
      runs.get(name)?.push(bytes);
      process.stderr.write(
        `server ${name} (round ${round}/${repeat}): ${Math.round(bytes)} bytes/call, ${collections} collections\n`,
      );
    }
  }
  if (topSites > 0) for (const name of names) sitesOf.set(name, (await measure(name, true)).sites);
  const bare = runs.has('bare') ? median(runs.get('bare') ?? []) : undefined;
  process.stdout.write(
    `\n| variant | bytes allocated per call (median of ${repeat}) | runs | above bare |\n|---|---|---|---|\n`,
  );
  for (const [name, list] of runs) {
    const bytes = median(list);
    const above = bare === undefined ? 'n/a' : `${Math.round(bytes - bare)}`;
    process.stdout.write(
      `| ${name} | ${Math.round(bytes)} | ${list.map(Math.round).join(', ')} | ${above} |\n`,
    );
  }
  for (const [name, sites] of sitesOf) {
    process.stdout.write(
      `\n${name}: the ${topSites} functions that allocate the most (sampled estimate, bytes per call)\n\n| bytes per call | function (script:line) |\n|---|---|\n`,
    );
    for (const { site, bytes } of sites.slice(0, topSites)) {
      process.stdout.write(`| ${Math.round(bytes)} | ${site.replaceAll('|', '\\|')} |\n`);
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
