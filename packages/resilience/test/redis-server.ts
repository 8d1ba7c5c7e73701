/** Starts a throwaway redis-server for tests: no persistence, a free loopback port, killed on stop. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { serverTestsSkipped } from '../../../test/harness/servers';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export interface RedisProcess {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Whether the Redis tests run here: `'run'` when redis-server is installed; without it, `'fail'`
 * in CI (process.env.CI set: CI must install it) and `'skip'` locally, with a loud warning;
 * `'skip'` also with `WEFT_SERVER_TESTS=skip` (see test/harness/servers.ts).
 */
export function redisMode(): 'run' | 'fail' | 'skip' {
  if (serverTestsSkipped('redis-server')) return 'skip';
  if (existsSync(REDIS_SERVER)) return 'run';
  if (process.env.CI) return 'fail';
  console.warn(
    `[resilience tests] SKIPPING Redis tests: ${REDIS_SERVER} not found (apt-get install redis-server)`,
  );
  return 'skip';
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startRedis(): Promise<RedisProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}:\n${output}`));
    });
  });
  child.removeAllListeners('exit');
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
