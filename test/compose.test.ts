/** docker-compose.yml is valid (Debian's docker-compose; no Docker engine runs here) and pinned. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { binary, requirePath } from './harness/servers';

const compose = binary('docker-compose', 'docker-compose');
const root = join(__dirname, '..');

describe.runIf(compose.run)('docker-compose.yml', () => {
  const config = () =>
    execFileSync(requirePath(compose), ['-f', 'docker-compose.yml', 'config'], {
      cwd: root,
      encoding: 'utf8',
    });

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

  it('wires two demo replicas, etcd, the load, Prometheus, Grafana and a trace backend', () => {
    const text = config();
    for (const service of [
      'user-service-1:',
      'user-service-2:',
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
    config = execFileSync(requirePath(compose), ['-f', 'docker-compose.yml', 'config'], {
      cwd: root,
      encoding: 'utf8',
    });
  });

  it("scrapes each replica's go-grpc-prometheus port and gRFC A66 port, and the load generator's two", () => {
    const jobs = scrapeTargets();
    for (const replica of ['user-service-1', 'user-service-2']) {
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
  const config = () =>
    execFileSync(
      requirePath(compose),
      ['-f', 'docker-compose.yml', '-f', 'docker-compose.mtls.yml', 'config'],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );

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
    for (const replica of ['user-service-1', 'user-service-2']) {
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
