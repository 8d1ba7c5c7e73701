/**
 * weft's locks and elections against Go's `clientv3/concurrency` (etcd 3.4 from Debian, built here
 * in GOPATH mode): a Go Mutex and weft's withLock exclude each other; a Go candidate and weft
 * replicas share one election. Needs the Go toolchain of the interop suite (test/interop): in CI a
 * missing package fails this file, locally it is skipped with a loud message.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binary, waitUntil } from '../../../test/harness/servers';
import { goToolchain } from '../../../test/interop/go-programs';
import { etcdLocks, leaderElection } from '../src/index';
import { type EtcdServer, startEtcd } from './etcd-server';

const etcdBin = binary('etcd', 'etcd-server');
const goTools = goToolchain();
const GOPATH_SYSTEM = '/usr/share/gocode';

/** A Go process of `go-concurrency/main.go` and the lines it printed. */
function startGo(program: string, args: string[]) {
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => lines.push(...chunk.toString().trim().split('\n')));
  const said = (word: string) =>
    waitUntil(`Go to say ${word} (said ${JSON.stringify(lines)})`, async () =>
      lines.some((l) => l.startsWith(word)),
    );
  return { child, lines, said, release: () => child.stdin?.write('\n') };
}

describe.runIf(etcdBin.run && goTools.run)('interop with Go clientv3/concurrency (real etcd)', () => {
  let etcd: EtcdServer;
  let client: Etcd3;
  let program: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    if (goTools.missing.length > 0) throw new Error(`needs Debian packages: ${goTools.missing.join(', ')}`);
    // A cache outside the worktree keeps reruns fast (the first build compiles etcd's client).
    const work = join(tmpdir(), 'weft-go-concurrency');
    mkdirSync(join(work, 'gopath'), { recursive: true });
    program = join(work, 'concurrency');
    await promisify(execFile)('go', ['build', '-o', program, join(__dirname, 'go-concurrency', 'main.go')], {
      env: {
        ...process.env,
        GO111MODULE: 'off',
        GOPATH: `${join(work, 'gopath')}:${GOPATH_SYSTEM}`,
        GOFLAGS: '',
        GOCACHE: join(work, 'cache'),
      },
    });
    etcd = await startEtcd(etcdBin);
    client = etcd.client();
  }, 240_000);
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await etcd?.stop();
  });
  const go = (args: string[]) => {
    const started = startGo(program, args);
    children.push(started.child);
    return started;
  };
  const lockKeys = () => client.getAll().prefix('locks/interop/').keys();

  it('a Go Mutex holder makes withLock wait, and withLock makes a Go Mutex wait', {
    timeout: 30_000,
  }, async () => {
    const locks = etcdLocks({ client, ttl: 5 });
    const goHolder = go(['lock', etcd.endpoint, 'interop']);
    await goHolder.said('locked');
    let entered = false;
    const waited = locks.withLock('interop', () => {
      entered = true;
    });
    await waitUntil('weft to queue behind Go', async () => (await lockKeys()).length === 2);
    expect(entered).toBe(false);
    goHolder.release();
    await waited;
    expect(entered).toBe(true);

    let open: () => void = () => undefined;
    const held = locks.withLock('interop', () => new Promise<void>((resolve) => (open = resolve)));
    await waitUntil('weft to hold', async () => (await lockKeys()).length === 1);
    const goWaiter = go(['lock', etcd.endpoint, 'interop']);
    await goWaiter.said('waiting');
    await waitUntil('Go to queue behind weft', async () => (await lockKeys()).length === 2);
    expect(goWaiter.lines.some((l) => l.startsWith('locked'))).toBe(false);
    open();
    await held;
    await goWaiter.said('locked');
    goWaiter.release();
    await goWaiter.said('released');
  });

  it('a Go candidate and weft replicas share one election', { timeout: 30_000 }, async () => {
    const a = leaderElection({ client, name: 'mixed', address: '127.0.0.1:1111', ttl: 5 });
    const observer = leaderElection({ client, name: 'mixed', address: '-', campaign: false });
    try {
      await a.elected();
      const goCandidate = go(['campaign', etcd.endpoint, 'mixed', '127.0.0.1:2222']);
      await goCandidate.said('waiting');
      await waitUntil(
        'two candidates',
        async () => (await client.getAll().prefix('election/mixed/').keys()).length === 2,
      );
      expect(goCandidate.lines.some((l) => l.startsWith('elected'))).toBe(false);
      expect(observer.leader()).toBe('127.0.0.1:1111');

      await a.resign();
      await goCandidate.said('elected');
      await waitUntil('weft to see the Go leader', async () => observer.leader() === '127.0.0.1:2222');

      const b = leaderElection({ client, name: 'mixed', address: '127.0.0.1:3333', ttl: 5 });
      await waitUntil('B to follow the Go leader', async () => b.leader() === '127.0.0.1:2222');
      expect(b.isLeader()).toBe(false);
      goCandidate.release();
      await b.elected();
      expect(observer.leader()).toBe('127.0.0.1:3333');
      await b.resign();
    } finally {
      await a.resign();
      await observer.resign();
    }
  });
});
