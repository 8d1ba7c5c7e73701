/**
 * What the demo shows to tools before any call: every service it serves is zero-filled in its
 * metrics (as go-grpc-prometheus's `InitializeMetrics(server)`) and listed by server reflection.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';
import { type RunningDemo, startDemo } from '../src/demo-server';
import { checkHealth } from '../src/health-client';

/** The reflection proto @grpc/reflection ships (and serves). */
const REFLECTION_PROTO = join(
  require.resolve('@grpc/reflection'),
  '..',
  '..',
  'proto',
  'grpc',
  'reflection',
  'v1',
  'reflection.proto',
);

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

/** `grpc.reflection.v1.ServerReflection/ServerReflectionInfo` with `list_services`, over a real socket. */
function listServices(address: string): Promise<string[]> {
  const definition = protoLoader.loadSync(REFLECTION_PROTO, { defaults: true });
  const proto = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
  };
  const client = new proto.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const stream = (
      client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, ReflectionResponse> }
    ).ServerReflectionInfo();
    stream.once('data', (response: ReflectionResponse) => {
      stream.end();
      client.close();
      if (response.listServicesResponse === undefined) {
        reject(new Error(`no list_services_response: ${JSON.stringify(response)}`));
      } else {
        resolve(response.listServicesResponse.service.map((s) => s.name));
      }
    });
    stream.once('error', (error) => {
      client.close();
      reject(error);
    });
    stream.write({ listServices: '*' });
  });
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return res.text();
}

describe('demo user service, before any call', () => {
  let demo: RunningDemo;
  beforeAll(async () => {
    demo = await startDemo(
      loadConfig({ GRPC_PORT: '0', METRICS_PORT: '0', OTEL_METRICS_PORT: '0' }),
      pino({ level: 'silent' }),
    );
  });
  afterAll(async () => demo.shutdown());

  it('exports zero series for the health service as for UserService', async () => {
    const text = await scrape(demo.metricsUrl);
    const health = 'grpc_service="grpc.health.v1.Health"';
    expect(text).toContain(`grpc_server_started_total{grpc_type="unary",${health},grpc_method="Check"} 0\n`);
    expect(text).toContain(
      `grpc_server_started_total{grpc_type="server_stream",${health},grpc_method="Watch"} 0\n`,
    );
    for (const code of ['OK', 'NotFound', 'Unavailable']) {
      expect(text).toContain(
        `grpc_server_handled_total{grpc_type="unary",${health},grpc_method="Check",grpc_code="${code}"} 0\n`,
      );
    }
    // The same as UserService's, which the demo has always zero-filled.
    expect(text).toContain(
      'grpc_server_started_total{grpc_type="unary",grpc_service="weft.demo.v1.UserService",grpc_method="GetUser"} 0\n',
    );
    // And a health call counts on that series.
    await expect(checkHealth(demo.address)).resolves.toBe('SERVING');
    expect(await scrape(demo.metricsUrl)).toContain(
      `grpc_server_started_total{grpc_type="unary",${health},grpc_method="Check"} 1\n`,
    );
  });

  it('lists the health service (and UserService) through server reflection', async () => {
    const services = await listServices(demo.address);
    expect(services).toContain('grpc.health.v1.Health');
    expect(services).toContain('weft.demo.v1.UserService');
  });
});
