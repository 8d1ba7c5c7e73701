import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoClientInterceptors } from '../src/client-interceptors';
import { loadConfig } from '../src/config';
import { call, userClient } from '../src/demo-client';
import { type RunningDemo, startDemo } from '../src/demo-server';
import { exercise } from '../src/exercise';
import { checkHealth } from '../src/health-client';
import { runLoad } from '../src/load-generator';
import { mintToken } from '../src/tokens';

const quiet = pino({ level: 'silent' });

describe('demo user service (in process)', () => {
  let demo: RunningDemo;
  beforeAll(async () => {
    demo = await startDemo(loadConfig({ GRPC_PORT: '0', METRICS_PORT: '0', OTEL_METRICS_PORT: '0' }), quiet);
  });
  afterAll(async () => demo.shutdown());

  it('answers every method from its own client, expected failures included', async () => {
    const client = userClient({ address: demo.address, interceptors: demoClientInterceptors() });
    const steps = await exercise(client);
    client.close();
    expect(steps.filter((s) => !s.ok)).toEqual([]);
    expect(steps.map((s) => s.method)).toEqual([
      'ListUsers',
      'CreateUser',
      'GetUser',
      'UpdateUser',
      'ImportUsers',
      'DeleteUser',
      'GetUser (deleted)',
      'CreateUser (duplicate)',
      'CreateUser (invalid)',
    ]);
  });

  it('refuses application calls without a token, and writes with a read-only token', async () => {
    const anonymous = userClient({ address: demo.address });
    await expect(call(anonymous, 'GetUser', { id: 'u-1' })).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    anonymous.close();
    const reader = userClient({
      address: demo.address,
      interceptors: demoClientInterceptors({
        env: { TOKEN: mintToken(loadConfig({}).jwt, { subject: 'r', scope: 'users:read', ttlSeconds: 60 }) },
      }),
    });
    await expect(call(reader, 'GetUser', { id: 'missing' })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
    await expect(call(reader, 'CreateUser', { name: 'x', email: 'x@example.com' })).rejects.toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: 'token lacks required scope "users:write"',
    });
    reader.close();
  });

  it('accepts a token minted by `npm run token`', async () => {
    const tsx = join(__dirname, '..', '..', '..', 'node_modules', '.bin', 'tsx');
    const token = execFileSync(tsx, ['src/token.ts', '--sub', 'alice', '--scope', 'users:read'], {
      cwd: join(__dirname, '..'),
      encoding: 'utf8',
      env: { ...process.env, JWT_SECRET: '' },
    }).trim();
    const client = userClient({
      address: demo.address,
      interceptors: demoClientInterceptors({ env: { TOKEN: token } }),
    });
    await expect(call(client, 'GetUser', { id: 'missing' })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
    client.close();
  });

  it('limits each subject to its token bucket with a retry hint', async () => {
    const limited = await startDemo(
      loadConfig({
        GRPC_PORT: '0',
        METRICS_PORT: '0',
        OTEL_METRICS_PORT: '0',
        RATE_LIMIT_RPS: '1',
        RATE_LIMIT_BURST: '3',
      }),
      quiet,
    );
    const jwt = loadConfig({}).jwt;
    const as = (subject: string) =>
      userClient({
        address: limited.address,
        interceptors: demoClientInterceptors({
          env: { TOKEN: mintToken(jwt, { subject, scope: 'users:read', ttlSeconds: 60 }) },
        }),
      });
    const alice = as('alice');
    const bob = as('bob');
    try {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 5 }, () => call(alice, 'GetUser', { id: 'missing' })),
      );
      const codes = outcomes.map((o) =>
        o.status === 'rejected' ? (o.reason as grpc.ServiceError).code : grpc.status.OK,
      );
      expect(codes.filter((c) => c === grpc.status.NOT_FOUND)).toHaveLength(3);
      const refused = outcomes.find(
        (o) =>
          o.status === 'rejected' && (o.reason as grpc.ServiceError).code === grpc.status.RESOURCE_EXHAUSTED,
      ) as PromiseRejectedResult;
      expect(refused.reason.details).toContain('per-subject');
      expect(refused.reason.metadata.get('grpc-retry-pushback-ms')).toHaveLength(1);
      // Another subject has its own bucket.
      await expect(call(bob, 'GetUser', { id: 'missing' })).rejects.toMatchObject({
        code: grpc.status.NOT_FOUND,
      });
    } finally {
      alice.close();
      bob.close();
      await limited.shutdown();
    }
  });

  it('retries an UNAVAILABLE answer and gives up after the attempt cap', async () => {
    const client = userClient({ address: demo.address, interceptors: demoClientInterceptors() });
    const md = new grpc.Metadata();
    md.set('x-demo-fault', 'unavailable');
    const started = Date.now();
    await expect(call(client, 'GetUser', { id: 'u-1' }, md)).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    // Three attempts with backoff in between take some time, but well under the 5 s deadline.
    expect(Date.now() - started).toBeLessThan(5000);
    client.close();
  });

  it('serves gRPC health checks', async () => {
    await expect(checkHealth(demo.address)).resolves.toBe('SERVING');
    await expect(checkHealth(demo.address, 'weft.demo.v1.UserService')).resolves.toBe('SERVING');
  });

  it('runs the load generator with the requested error mix', async () => {
    const client = userClient({ address: demo.address, interceptors: demoClientInterceptors() });
    // A call count, not a time: a busy CI machine made 10 calls in 0.5 s (too few to judge the
    // mix), a quiet one hundreds a second (then the rate limit and the breaker join the mix).
    const report = await runLoad(client, {
      concurrency: 4,
      durationSeconds: 20,
      maxCalls: 80,
      errorRate: 0.5,
    });
    client.close();
    expect(report.calls).toBeGreaterThan(20);
    const failures = (report.codes.NOT_FOUND ?? 0) + (report.codes.INVALID_ARGUMENT ?? 0);
    expect(failures / report.calls).toBeGreaterThan(0.3);
    expect(failures / report.calls).toBeLessThan(0.7);
  });
});

describe('npm run demo (as a process)', () => {
  let child: ChildProcess;
  let address: string;
  const output: string[] = [];

  beforeAll(async () => {
    // As `npm run start` runs it: node with tsx as a loader. Not the tsx CLI, whose parent process
    // SIGKILLs its child when the child has not acknowledged a relayed signal within 30 ms.
    child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: join(__dirname, '..'),
      env: { ...process.env, GRPC_PORT: '0', METRICS_PORT: '0', OTEL_METRICS_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    address = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`demo did not start: ${output.join('')}`)), 50_000);
      const onData = (chunk: Buffer) => {
        output.push(chunk.toString());
        const match = /listening on ([\d.]+:\d+)/.exec(output.join(''));
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => reject(new Error(`demo exited with ${code}: ${output.join('')}`)));
    });
  });
  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('logs where it listens, answers, and shuts down cleanly on SIGTERM', async () => {
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    await expect(checkHealth(address)).resolves.toBe('SERVING');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output.join('')).toContain('stopped');
    await expect(checkHealth(address, '', 500)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });
});
