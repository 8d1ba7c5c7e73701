import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../../../test/harness/servers';
import { demoClientInterceptors } from '../src/client-interceptors';
import { loadConfig } from '../src/config';
import { userClient } from '../src/demo-client';
import { type RunningDemo, startDemo } from '../src/demo-server';
import { formatReport, runLoad } from '../src/load-generator';

const quiet = pino({ level: 'silent' });
const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/** The demo's own count of calls it answered with `code` (a Go-style name such as `ResourceExhausted`). */
async function serverHandled(demo: RunningDemo, code: string): Promise<number> {
  const metric = demo.registry.getSingleMetric('grpc_server_handled_total');
  const { values } = await (
    metric as unknown as { get(): Promise<{ values: { labels: Record<string, string>; value: number }[] }> }
  ).get();
  return values
    .filter((v) => v.labels.grpc_code === code && v.labels.grpc_service === 'weft.demo.v1.UserService')
    .reduce((a, v) => a + v.value, 0);
}

describe('load generator', () => {
  let demo: RunningDemo | undefined;
  let client: grpc.Client | undefined;
  afterEach(async () => {
    client?.close();
    await demo?.shutdown();
    demo = undefined;
  });

  it('paces arrivals at --rps, open-loop, whatever the answers', async () => {
    demo = await startDemo(loadConfig({ GRPC_PORT: '0', METRICS_PORT: '0', OTEL_METRICS_PORT: '0' }), quiet);
    const users = userClient({ address: demo.address, interceptors: demoClientInterceptors() });
    client = users;
    const starts: number[] = [];
    const report = await runLoad(users, {
      rps: 20,
      concurrency: 8,
      durationSeconds: 1,
      errorRate: 0,
      metadata: () => {
        starts.push(performance.now());
        return new grpc.Metadata();
      },
    });
    // 20/s for 1 s: 20 arrivals (at 0, 50, ..., 950 ms), whatever the machine's load; the closed
    // loop of 8 workers makes hundreds.
    expect(report.calls + report.skipped).toBeGreaterThanOrEqual(19);
    expect(report.calls + report.skipped).toBeLessThanOrEqual(21);
    expect(report.rps).toBe(20);
    // Spread over the second, not sent in one burst.
    expect((starts.at(-1) ?? 0) - (starts[0] ?? 0)).toBeGreaterThan(800);
    expect(sum(report.codes) + sum(report.local)).toBe(report.calls);
  });

  it('reports the server statuses apart from calls refused on the client', async () => {
    demo = await startDemo(
      loadConfig({
        GRPC_PORT: '0',
        METRICS_PORT: '0',
        OTEL_METRICS_PORT: '0',
        RATE_LIMIT_RPS: '1',
        RATE_LIMIT_BURST: '3',
      }),
      quiet,
    );
    const users = userClient({ address: demo.address, interceptors: demoClientInterceptors() });
    client = users;
    // Far over the per-subject quota: the server refuses, the client's throttle backs off.
    const report = await runLoad(users, { rps: 200, concurrency: 16, durationSeconds: 1, errorRate: 0 });
    const quota = report.codes.RESOURCE_EXHAUSTED ?? 0;
    expect(quota).toBeGreaterThan(0);
    expect(report.local.throttle ?? 0).toBeGreaterThan(0);
    // What the report calls server statuses is what the server says it answered.
    expect(quota).toBe(await serverHandled(demo, 'ResourceExhausted'));
    // The breaker stays closed against a healthy server refusing a caller over its quota, and the
    // throttle's refusals (UNAVAILABLE) are not counted as server statuses.
    expect(report.local['circuit-breaker']).toBeUndefined();
    expect(report.codes.UNAVAILABLE).toBeUndefined();
    expect(sum(report.codes) + sum(report.local)).toBe(report.calls);
    const text = formatReport(report);
    expect(text).toContain(`sent, by status (server or transport): ${sum(report.codes)}`);
    expect(text).toContain(`refused on the client, not sent (x-weft-local): ${sum(report.local)}`);
    expect(text).toContain('paced at 200/s');
  });
});

describe('npm run demo:load with LOAD_OTEL_METRICS_PORT', () => {
  let demo: RunningDemo | undefined;
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child?.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    await demo?.shutdown();
  });

  it("serves gRFC A66's client instruments, with the channel target, while it runs", async () => {
    demo = await startDemo(loadConfig({ GRPC_PORT: '0', METRICS_PORT: '0', OTEL_METRICS_PORT: '0' }), quiet);
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/load.ts', '--duration', '30', '--rps', '20', '--faults', '0'],
      {
        cwd: join(__dirname, '..'),
        env: { ...process.env, ADDRESS: demo.address, LOAD_OTEL_METRICS_PORT: '0' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    child = proc;
    // It prints the bound URL (port 0 picks a free one).
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      proc.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /gRFC A66 client metrics on (\S+)/.exec(out);
        if (m) resolve(m[1] as string);
      });
      proc.once('exit', (code) => reject(new Error(`load exited ${code} before serving: ${out}`)));
    });
    const target = `dns:///${demo.address}`;
    let text = '';
    await waitUntil('the first finished call in the exposition', async () => {
      text = await (await fetch(url)).text();
      return text.includes('grpc_client_call_duration_count{');
    });
    for (const family of ['grpc_client_attempt_started_total', 'grpc_client_call_duration_count']) {
      expect(text).toMatch(
        new RegExp(`${family}\\{grpc_method="weft\\.demo\\.v1\\.UserService/\\w+",grpc_target="${target}"`),
      );
    }
  }, 60_000);
});
