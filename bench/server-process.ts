/**
 * One benchmark server: a variant's interceptors around the echo service, in its own process so
 * its CPU time can be read alone. Forked by run.ts; talks over IPC.
 */

import { startSites, stopSites } from './allocation-sites';
import { type ControlMessage, thisNode } from './proto';
import { serverVariants } from './server-variants';

/** Live timers, sockets and other handles: a leak of any of them shows as growth here. */
function activeResources(): number {
  return process.getActiveResourcesInfo().length;
}

async function main() {
  const name = process.argv[2] ?? 'bare';
  const build = serverVariants[name];
  if (build === undefined) throw new Error(`unknown server variant "${name}"`);
  // `--no-async-context` of the instruction bench: weft's cost apart from Node's async hooks.
  if (process.env.WEFT_BENCH_ASYNC_CONTEXT === 'off') {
    (require('@weft/core') as typeof import('@weft/core')).setAsyncContext(false);
  }
  const server = await build();
  const port = await server.listen('127.0.0.1:0');
  const send = (m: ControlMessage) => process.send?.(m);
  process.on('message', (m: { type: string; id: number; gc?: boolean }) => {
    if (m.type === 'sites-start') {
      void startSites().then(() => send({ type: 'sites', sites: [] }));
    } else if (m.type === 'sites-stop') {
      void stopSites().then((sites) => send({ type: 'sites', sites }));
    } else if (m.type === 'cpu') {
      if (m.gc && global.gc) global.gc();
      send({
        type: 'cpu',
        id: m.id,
        cpu: process.cpuUsage(),
        heap: process.memoryUsage().heapUsed,
        handles: activeResources(),
        stats: server.stats?.(),
      });
    } else if (m.type === 'stop') {
      void server.close().then(() => process.exit(0));
    }
  });
  // Die with the orchestrator, whatever way it ends.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', port, token: server.token, node: thisNode() });
}

main().catch((error) => {
  process.send?.({
    type: 'error',
    message: error instanceof Error ? (error.stack ?? error.message) : String(error),
  });
  process.exit(1);
});
