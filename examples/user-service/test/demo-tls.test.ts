/**
 * The demo with TLS_CERT / TLS_KEY / TLS_CA: mTLS on real sockets with certificates made by the
 * same code as `npm run certs`, the workload identity beside the end user in every log line.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoClientInterceptors } from '../src/client-interceptors';
import { loadConfig, tlsFromEnv } from '../src/config';
import { userClient } from '../src/demo-client';
import { type RunningDemo, startDemo } from '../src/demo-server';
import { exercise } from '../src/exercise';
import { checkHealth } from '../src/health-client';
import { demoChannelCredentials } from '../src/tls';

const root = join(__dirname, '..', '..', '..');

describe('npm run certs + TLS_* npm run demo', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let demo: RunningDemo;
  const lines: Record<string, unknown>[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-demo-certs-'));
    // The script itself, as `npm run certs -- --out <dir>` runs it.
    execFileSync(process.execPath, ['--import', 'tsx', 'examples/user-service/src/certs.ts', '--out', dir], {
      cwd: root,
      stdio: 'pipe',
    });
    env = {
      GRPC_PORT: '0',
      METRICS_PORT: '0',
      OTEL_METRICS_PORT: '0',
      TLS_CERT: join(dir, 'server.crt'),
      TLS_KEY: join(dir, 'server.key'),
      TLS_CA: join(dir, 'ca.crt'),
    };
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line));
        done();
      },
    });
    demo = await startDemo(loadConfig(env), pino({ level: 'info' }, sink));
  });
  afterAll(async () => {
    await demo.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes a CA, a server certificate and client certificates', () => {
    for (const file of [
      'ca.crt',
      'server.crt',
      'server.key',
      'client.crt',
      'client.key',
      'load.crt',
      'load.key',
    ]) {
      expect(existsSync(join(dir, file)), file).toBe(true);
    }
  });

  it('serves the demo client over mTLS; logs carry peer.identity beside auth.sub', async () => {
    const credentials = demoChannelCredentials({
      TLS_CA: env.TLS_CA,
      TLS_CLIENT_CERT: join(dir, 'client.crt'),
      TLS_CLIENT_KEY: join(dir, 'client.key'),
    });
    // A host name the certificate names (Node 26 refuses an IP address as the TLS server name).
    const address = `localhost:${demo.grpcPort}`;
    const client = userClient({ address, interceptors: demoClientInterceptors(), credentials });
    try {
      const steps = await exercise(client);
      expect(steps.filter((s) => !s.ok)).toEqual([]);
      await expect(checkHealth(address, '', 3000, credentials)).resolves.toBe('SERVING');
    } finally {
      client.close();
    }
    expect(lines.find((l) => l.msg === `user service listening on ${demo.address}`)).toMatchObject({
      transport: 'mtls',
    });
    const finished = lines.filter(
      (l) => l.msg === 'finished call' && l['grpc.service'] === 'weft.demo.v1.UserService',
    );
    expect(finished.length).toBeGreaterThan(5);
    for (const line of finished) {
      expect(line['peer.identity']).toBe('spiffe://weft.demo/ns/demo/sa/client');
      expect(line['auth.sub']).toBe('demo-client');
    }
  });

  it('refuses a client without a certificate at the handshake and a plaintext client', async () => {
    for (const credentials of [
      demoChannelCredentials({ TLS_CA: env.TLS_CA }),
      grpc.credentials.createInsecure(),
    ]) {
      await expect(checkHealth(`localhost:${demo.grpcPort}`, '', 3000, credentials)).rejects.toMatchObject({
        code: grpc.status.UNAVAILABLE,
      });
    }
  });
});

describe('TLS settings from the environment', () => {
  it('is plaintext without TLS_CERT / TLS_KEY (TLS_CA alone is a client setting)', () => {
    expect(tlsFromEnv({})).toBeUndefined();
    expect(tlsFromEnv({ TLS_CA: 'ca.crt' })).toBeUndefined();
    expect(demoChannelCredentials({})._isSecure()).toBe(false);
  });

  it('turns on TLS, and mTLS with a CA (client certificates required unless told otherwise)', () => {
    expect(tlsFromEnv({ TLS_CERT: 's.crt', TLS_KEY: 's.key' })).toEqual({
      certFile: 's.crt',
      keyFile: 's.key',
      caFile: undefined,
      requireClientCert: false,
      refreshSeconds: 60,
    });
    expect(tlsFromEnv({ TLS_CERT: 's.crt', TLS_KEY: 's.key', TLS_CA: 'ca.crt' })?.requireClientCert).toBe(
      true,
    );
    expect(
      tlsFromEnv({ TLS_CERT: 's.crt', TLS_KEY: 's.key', TLS_CA: 'ca.crt', TLS_REQUIRE_CLIENT_CERT: 'false' })
        ?.requireClientCert,
    ).toBe(false);
  });

  it.each([
    [{ TLS_CERT: 's.crt' }, /go together/],
    [{ TLS_CERT: 's.crt', TLS_KEY: 's.key', TLS_REQUIRE_CLIENT_CERT: 'true' }, /needs TLS_CA/],
    [{ TLS_CERT: 's.crt', TLS_KEY: 's.key', TLS_CA: 'c', TLS_REQUIRE_CLIENT_CERT: 'yes' }, /true or false/],
  ])('refuses a half setting %o', (env, error) => {
    expect(() => tlsFromEnv(env)).toThrow(error);
  });

  it('refuses client certificate settings without TLS_CA', () => {
    expect(() => demoChannelCredentials({ TLS_CLIENT_CERT: 'c.crt', TLS_CLIENT_KEY: 'c.key' })).toThrow(
      /TLS_CA/,
    );
  });
});
