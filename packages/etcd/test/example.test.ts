/**
 * Runs the README's examples (test/example/*.ts) as real processes: two servers register, the
 * client spreads its calls over both, and SIGTERM takes a server out of etcd before it exits; the
 * load-aware client, with no service config of its own, balances over both with the policy the
 * resolver gives it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binary, waitUntil } from '../../../test/harness/servers';
import { type EtcdServer, startEtcd } from './etcd-server';

const bin = binary('etcd', 'etcd-server');
const ROOT = join(__dirname, '..', '..', '..'); // tsx resolves @weft/etcd through tsconfig paths here
const EXAMPLE = join(__dirname, 'example');

describe.runIf(bin.run)('the README example (real etcd, real processes)', () => {
  let etcd: EtcdServer;
  const servers: ChildProcess[] = [];

  const startServer = async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(EXAMPLE, 'server.ts')], {
      cwd: ROOT,
      env: { ...process.env, ETCD_ENDPOINTS: etcd.endpoint },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    servers.push(child);
    const line = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`example server exited with ${code}`)));
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('registered as')) resolve(chunk.toString());
      });
    });
    return { child, key: /registered as (\S+)/.exec(line)?.[1] ?? '', instance: `pid-${child.pid}` };
  };
  const runClient = async (calls: number, file = 'client.ts') => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(EXAMPLE, file)], {
      cwd: ROOT,
      env: { ...process.env, ETCD_ENDPOINTS: etcd.endpoint, CALLS: String(calls) },
    });
    return stdout.trim().split('\n');
  };

  /**
   * The instances that answered the client's calls, over up to 3 runs until `expected` many have:
   * a run's first calls can all go to the instance whose connection was ready first (on a busy
   * machine, 10 calls once did). A pick_first client could never reach a second instance in any
   * run: every run gets the same address list in the same order and dials its first address.
   */
  const answeredBy = async (expected: number, file?: string) => {
    const seen = new Set<string>();
    for (let run = 0; run < 3 && seen.size < expected; run++) {
      for (const instance of await runClient(10, file)) seen.add(instance);
    }
    return seen;
  };

  beforeAll(async () => {
    etcd = await startEtcd(bin);
  });
  afterAll(async () => {
    for (const child of servers) if (child.exitCode === null) child.kill('SIGKILL');
    await etcd?.stop();
  });

  it('spreads calls over both servers, and a SIGTERM deregisters before the server exits', async () => {
    const a = await startServer();
    const b = await startServer();
    expect(await answeredBy(2)).toEqual(new Set([a.instance, b.instance]));

    const client = etcd.client();
    const exited = new Promise<number | null>((resolve) => a.child.once('exit', resolve));
    a.child.kill('SIGTERM');
    await waitUntil('the key to be deleted', async () => (await client.get(a.key).string()) === null, 3000);
    expect(await exited).toBe(0); // it drained and exited on its own
    expect(await client.get(b.key).string()).not.toBeNull();
    expect(new Set(await runClient(4))).toEqual(new Set([b.instance]));
  }, 40_000);

  it('balances the load-aware client over both servers with the policy from the resolver', async () => {
    // The servers of the test before leave first (SIGTERM deregisters them).
    const running = servers.filter((child) => child.exitCode === null);
    for (const child of running) child.kill('SIGTERM');
    await Promise.all(running.map((child) => new Promise((resolve) => child.once('exit', resolve))));
    const a = await startServer();
    const b = await startServer();
    // Without the resolver's config the channel (no option of its own) would use pick_first: one server.
    expect(await answeredBy(2, 'balanced-client.ts')).toEqual(new Set([a.instance, b.instance]));
  }, 40_000);
});
