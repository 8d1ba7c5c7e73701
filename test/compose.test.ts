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
