/** docker-compose.yml is valid (Debian's docker-compose; no Docker engine runs here) and pinned. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
