/**
 * The processes of the balancing benchmark (balance.ts): compiled bench scripts forked on the
 * measured Node and spoken to over IPC, and a real etcd (Debian's) on free ports.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { join } from 'node:path';
import { type EtcdServer, startEtcd as startTestEtcd } from '../packages/etcd/test/etcd-server';

export interface Child<R = unknown> {
  readonly proc: ChildProcess;
  /** The child's `ready` message. */
  readonly ready: R;
  /** Sends `message` with a fresh id and resolves with the reply carrying that id. */
  request<T>(message: Record<string, unknown>): Promise<T>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
}

let nextId = 1;
/** Every child started, so that a failed run still stops them all. */
const running: Child[] = [];

/** Forks a compiled bench script on the measured Node, and waits for its `ready` message. */
export async function startChild<R>(node: string, script: string, args: string[]): Promise<Child<R>> {
  const proc = fork(join(__dirname, script), args, {
    execPath: node,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, { resolve: (m: unknown) => void; reject: (e: Error) => void }>();
  let stopping = false;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const ready = new Promise<R>((resolve, reject) => {
    proc.on('message', (m: { type: string; id?: number; message?: string }) => {
      if (m.type === 'ready') resolve(m as R);
      else if (m.id !== undefined) {
        const w = waiting.get(m.id);
        waiting.delete(m.id);
        if (m.type === 'error') w?.reject(new Error(`${script}: ${m.message}`));
        else w?.resolve(m);
      }
    });
    proc.once('exit', (code) => {
      if (stopping) return;
      const error = new Error(`${script} ${args.join(' ')} exited with ${code}`);
      reject(error);
      for (const w of waiting.values()) w.reject(error);
    });
  });
  const child: Child<R> = {
    proc,
    ready: await ready,
    exited,
    request<T>(message: Record<string, unknown>) {
      const id = nextId++;
      if (message.type === 'stop') stopping = true;
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: (m) => resolve(m as T), reject });
        proc.send({ ...message, id });
      });
    },
  };
  running.push(child);
  return child;
}

/** Asks the child to stop (it answers by exiting) and waits until it has. */
export async function stopChild(child: Child): Promise<void> {
  if (child.proc.connected) void child.request({ type: 'stop' }).catch(() => undefined);
  await child.exited;
}

/** Stops every child still running. */
export async function stopChildren(): Promise<void> {
  await Promise.all(running.map(stopChild));
}

/**
 * Debian's etcd on free ports with a temporary data dir (the tests' own, from
 * packages/etcd/test/etcd-server.ts), or an error saying how to get it.
 */
export function startEtcd(): Promise<EtcdServer> {
  let path = '';
  try {
    path = execFileSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).trim();
  } catch {
    // not installed: said below
  }
  if (path === '') {
    throw new Error(
      'bench:balance needs a real etcd: `etcd` is not on PATH (Debian: apt-get install etcd-server)',
    );
  }
  return startTestEtcd({ name: 'etcd', path, run: true });
}
