/**
 * A real etcd for one test file: free ports, a temporary data dir that survives `restart()` (same
 * ports, same data: what an etcd restart looks like to clients), removed by `stop()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import {
  type Binary,
  freePort,
  type Process,
  requirePath,
  startProcess,
  waitUntil,
} from '../../../test/harness/servers';

export interface EtcdServer {
  readonly endpoint: string;
  /** A new client; closed by `stop()` unless closed before. */
  client(): Etcd3;
  /** Stops the process only (clients see etcd down). */
  kill(): Promise<void>;
  /** SIGSTOPs etcd: connections stay open and nothing answers (a hung or partitioned etcd). */
  pause(): void;
  /** SIGCONTs a paused etcd. */
  resume(): void;
  /** Starts etcd again on the same ports and data dir and waits until it serves. */
  start(): Promise<void>;
  /** Closes every client, stops etcd, removes the data. */
  stop(): Promise<void>;
}

export async function startEtcd(bin: Binary): Promise<EtcdServer> {
  const path = requirePath(bin);
  const clientPort = await freePort();
  const peerPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'weft-etcd-'));
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const clients: Etcd3[] = [];
  let proc: Process | undefined;

  const start = async () => {
    const current = startProcess(path, () => [
      '--name',
      't',
      '--data-dir',
      join(dataDir, 'data'),
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `t=${peer}`,
      '--logger',
      'zap',
      '--log-level',
      'warn',
    ]);
    proc = current;
    await waitUntil(
      'etcd to serve',
      async () => {
        if (current.child.exitCode !== null) throw new Error('etcd exited');
        const res = await fetch(`${endpoint}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      },
      20_000,
      current,
    );
  };
  const kill = async () => {
    await proc?.stop();
    proc = undefined;
  };
  await start();
  return {
    endpoint,
    client() {
      const client = new Etcd3({ hosts: endpoint });
      clients.push(client);
      return client;
    },
    kill,
    pause: () => proc?.child.kill('SIGSTOP'),
    resume: () => proc?.child.kill('SIGCONT'),
    start,
    async stop() {
      for (const client of clients) client.close();
      await kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
