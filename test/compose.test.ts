/** docker-compose.yml is valid (Debian's docker-compose; no Docker engine runs here) and pinned. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { slowdownFromEnv } from '../examples/user-service/src/config';
import { lbPolicyFromEnv } from '../examples/user-service/src/lb-policy';
import { binary, requirePath } from './harness/servers';

const compose = binary('docker-compose', 'docker-compose');
const root = join(__dirname, '..');
const REPLICAS = ['user-service-1', 'user-service-2', 'user-service-3'];

/**
 * `docker-compose config` with the host's environment as `vars` says: the file reads LB_POLICY and
 * SLOW_REPLICA_* from it (`${LB_POLICY:-round_robin}`), so the test sets or clears them itself.
 */
function composeConfig(files: string[], vars: Record<string, string | undefined> = {}): string {
  const env = { ...process.env };
  for (const name of ['LB_POLICY', 'SLOW_REPLICA_CPU_MS', 'SLOW_REPLICA_DELAY_MS']) delete env[name];
  for (const [name, value] of Object.entries(vars)) if (value !== undefined) env[name] = value;
  return execFileSync(requirePath(compose), [...files.flatMap((f) => ['-f', f]), 'config'], {
    cwd: root,
    encoding: 'utf8',
    env,
  });
}

describe.runIf(compose.run)('docker-compose.yml', () => {
  const config = () => composeConfig(['docker-compose.yml']);

  it('validates', () => {
    expect(config()).toContain('services:');
  });

  it('pins every image to a version', () => {
    const images = [...config().matchAll(/image: (\S+)/g)].map((m) => m[1] as string);
    expect(images.length).toBeGreaterThanOrEqual(4);
    for (const image of images) {
      if (image === 'weft-demo:local') continue;
      expect(image, image).toMatch(/:v?\d+\.\d+\.\d+$/);
    }
  });

  it('wires three demo replicas, etcd, the load, Prometheus, Grafana and a trace backend', () => {
    const text = config();
    for (const service of [
      'user-service-1:',
      'user-service-2:',
      'user-service-3:',
      'etcd:',
      'load:',
      'prometheus:',
      'grafana:',
      'jaeger:',
    ]) {
      expect(text).toContain(service);
    }
  });
});

/** `name:`'s block in `docker-compose config` output (services are indented two spaces). */
function serviceBlock(text: string, name: string): string {
  const start = text.indexOf(`\n  ${name}:\n`);
  expect(start, name).toBeGreaterThan(0);
  const next = text.slice(start + 1).search(/\n {2}\S/);
  return text.slice(start, next < 0 ? undefined : start + 1 + next);
}

/** An environment variable's value in a service block, or `fallback` when unset. */
function env(block: string, name: string, fallback?: string): string {
  const m = new RegExp(`\\n\\s+${name}: ["']?([^"'\\n]+)["']?\\n`).exec(block);
  const value = m?.[1] ?? fallback;
  expect(value, name).toBeDefined();
  return value as string;
}

/** prometheus/prometheus.yml's static targets by job (the file lists them as ["host:port", ...]). */
function scrapeTargets(): Map<string, string[]> {
  const text = readFileSync(join(root, 'prometheus', 'prometheus.yml'), 'utf8');
  const jobs = new Map<string, string[]>();
  for (const m of text.matchAll(/- job_name: (\S+)\n\s+static_configs:\n\s+- targets: \[([^\]]*)\]/g)) {
    jobs.set(
      m[1] as string,
      [...(m[2] as string).matchAll(/"([^"]+)"/g)].map((t) => t[1] as string),
    );
  }
  return jobs;
}

describe.runIf(compose.run)('docker-compose.yml with prometheus/ and grafana/', () => {
  // In beforeAll, not the describe body: vitest runs a skipped describe's body to collect it.
  let config = '';
  beforeAll(() => {
    config = composeConfig(['docker-compose.yml']);
  });

  it("scrapes each replica's go-grpc-prometheus port and gRFC A66 port, and the load generator's two", () => {
    const jobs = scrapeTargets();
    expect(jobs.get('user-service')).toHaveLength(REPLICAS.length);
    expect(jobs.get('user-service-a66')).toHaveLength(REPLICAS.length);
    for (const replica of REPLICAS) {
      const block = serviceBlock(config, replica);
      // Defaults from examples/user-service/src/config.ts when compose does not set them.
      expect(jobs.get('user-service'), replica).toContain(`${replica}:${env(block, 'METRICS_PORT', '9464')}`);
      expect(jobs.get('user-service-a66'), replica).toContain(
        `${replica}:${env(block, 'OTEL_METRICS_PORT', '9466')}`,
      );
      // Reachable from Prometheus's container: both metrics servers bind HOST.
      expect(env(block, 'HOST')).toBe('0.0.0.0');
    }
    const load = serviceBlock(config, 'load');
    expect(env(load, 'LOAD_METRICS_HOST')).toBe('0.0.0.0');
    expect(jobs.get('user-service-client')).toEqual([`load:${env(load, 'LOAD_METRICS_PORT')}`]);
    expect(jobs.get('user-service-client-a66')).toEqual([`load:${env(load, 'LOAD_OTEL_METRICS_PORT')}`]);
    expect(serviceBlock(config, 'prometheus')).toContain('--config.file=/etc/prometheus/prometheus.yml');
  });

  it('registers every replica in etcd under its own address, and the load waits for all three', () => {
    for (const replica of REPLICAS) {
      const block = serviceBlock(config, replica);
      expect(env(block, 'ETCD_ENDPOINTS')).toBe('http://etcd:2379');
      expect(env(block, 'ADVERTISE_ADDRESS')).toBe(`${replica}:${env(block, 'GRPC_PORT', '50051')}`);
      // docker-compose config writes depends_on as a map of service to condition.
      expect(serviceBlock(config, 'load'), replica).toMatch(
        new RegExp(`\\n {6}${replica}:\\n {8}condition:`),
      );
    }
  });

  it('makes user-service-3 the slow replica, with values the demo accepts, and only that one', () => {
    const slowdown = (replica: string) => {
      const block = serviceBlock(config, replica);
      // The demo's own check (it refuses a value out of range at startup); unset is 0.
      return slowdownFromEnv({
        HANDLER_CPU_MS: env(block, 'HANDLER_CPU_MS', '0'),
        HANDLER_DELAY_MS: env(block, 'HANDLER_DELAY_MS', '0'),
      });
    };
    expect(slowdown('user-service-1')).toEqual({ cpuMs: 0, delayMs: 0 });
    expect(slowdown('user-service-2')).toEqual({ cpuMs: 0, delayMs: 0 });
    expect(slowdown('user-service-3')).toEqual({ cpuMs: 20, delayMs: 0 });
    // From the host's environment: SLOW_REPLICA_CPU_MS=0 makes it an ordinary replica.
    const ordinary = composeConfig(['docker-compose.yml'], {
      SLOW_REPLICA_CPU_MS: '0',
      SLOW_REPLICA_DELAY_MS: '200',
    });
    expect(env(serviceBlock(ordinary, 'user-service-3'), 'HANDLER_CPU_MS')).toBe('0');
    expect(env(serviceBlock(ordinary, 'user-service-3'), 'HANDLER_DELAY_MS')).toBe('200');
  });

  it('balances the load with LB_POLICY: round_robin unless the host sets another the demo accepts', () => {
    const policy = (text: string) =>
      lbPolicyFromEnv({ LB_POLICY: env(serviceBlock(text, 'load'), 'LB_POLICY') });
    expect(policy(config)).toBe('round_robin');
    for (const name of ['least_request', 'weighted_round_robin', 'consistent_hash']) {
      expect(policy(composeConfig(['docker-compose.yml'], { LB_POLICY: name }))).toBe(name);
    }
    // Etcd discovery, so every replica is a candidate.
    expect(env(serviceBlock(config, 'load'), 'ETCD_ENDPOINTS')).toBe('http://etcd:2379');
  });

  it('provisions every generated dashboard, the A66 one included, from the mounted folder', () => {
    const provider = readFileSync(
      join(root, 'grafana', 'provisioning', 'dashboards', 'dashboards.yml'),
      'utf8',
    );
    const path = /\n\s+path: (\S+)/.exec(provider)?.[1];
    expect(path).toBeDefined();
    const grafana = serviceBlock(config, 'grafana');
    // docker-compose config writes each volume as an absolute source:target:mode.
    expect(grafana).toContain(`- ${join(root, 'grafana', 'dashboards')}:${path}:ro`);
    expect(existsSync(join(root, 'grafana', 'dashboards', 'grpc-a66.json'))).toBe(true);
  });
});

describe.runIf(compose.run)('docker-compose.mtls.yml (the mTLS variant)', () => {
  const config = () => composeConfig(['docker-compose.yml', 'docker-compose.mtls.yml']);

  it('validates on top of docker-compose.yml', () => {
    expect(config()).toContain('services:');
  });

  it('makes certificates first, then runs the replicas with mTLS and the load with a client certificate', () => {
    const text = config();
    const service = (name: string) => {
      const start = text.indexOf(`\n  ${name}:\n`);
      expect(start, name).toBeGreaterThan(0);
      const next = text.slice(start + 1).search(/\n {2}\S/);
      return text.slice(start, next < 0 ? undefined : start + 1 + next);
    };
    expect(service('certs')).toContain('examples/user-service/src/certs.ts');
    // The server certificate names every replica (the load dials each by its etcd address).
    const hosts = /--hosts\n\s+- ([^\n]+)\n/.exec(service('certs'))?.[1]?.split(',') ?? [];
    for (const replica of REPLICAS) {
      expect(hosts).toContain(replica);
      const block = service(replica);
      expect(block).toContain('TLS_CERT: /certs/server.crt');
      expect(block).toContain('TLS_CA: /certs/ca.crt');
      expect(block).toMatch(/TLS_REQUIRE_CLIENT_CERT: ["']true["']/);
      expect(block).toContain('condition: service_completed_successfully');
      // The replicas still register in etcd and export traces as without TLS.
      expect(block).toContain('ETCD_ENDPOINTS: http://etcd:2379');
    }
    const load = service('load');
    expect(load).toContain('TLS_CLIENT_CERT: /certs/load.crt');
    expect(load).toContain('TLS_CA: /certs/ca.crt');
  });
});
