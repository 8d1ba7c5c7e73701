import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, unary } from '../../../test/harness';
import { clientTracing, serverTracing } from '../src/index';
import { setupOtel, waitFor } from './otel';

setupOtel();

interface Received {
  path: string | undefined;
  contentType: string | undefined;
  body: Buffer;
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

describe('export over OTLP/HTTP', () => {
  const received: Received[] = [];
  let collector: Server;
  let url: string;

  beforeAll(async () => {
    // A stand-in OTLP collector: accepts whatever arrives at /v1/traces.
    collector = createServer(async (request, response) => {
      const body = await readBody(request);
      received.push({ path: request.url, contentType: request.headers['content-type'], body });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => collector.close(() => resolve()));
  });

  it('delivers the spans of a traced call to a collector', async () => {
    const provider = new BasicTracerProvider({
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
    });
    const harness = await startHarness({
      serverInterceptors: [serverTracing({ tracerProvider: provider })],
      clientInterceptors: [clientTracing({ tracerProvider: provider })],
    });
    try {
      const result = await unary(harness.client, { message: 'exported' });
      expect(result.status.code).toBe(grpc.status.OK);
      await provider.forceFlush();
      await waitFor(() => received.length > 0);
    } finally {
      await harness.close();
      await provider.shutdown();
    }
    const all = Buffer.concat(received.map((r) => r.body));
    expect(received[0]?.path).toBe('/v1/traces');
    expect(all.length).toBeGreaterThan(0);
    expect(all.includes('weft.test.TestService/Unary')).toBe(true);
    expect(all.includes('@weft/tracing')).toBe(true);
    if (received[0]?.contentType?.includes('json')) {
      const names = received.flatMap((r) => spanNames(JSON.parse(r.body.toString('utf8'))));
      expect(names.filter((n) => n === 'weft.test.TestService/Unary')).toHaveLength(2);
    }
  });
});

interface OtlpJson {
  resourceSpans?: { scopeSpans?: { spans?: { name: string }[] }[] }[];
}

function spanNames(body: OtlpJson): string[] {
  return (body.resourceSpans ?? []).flatMap((rs) =>
    (rs.scopeSpans ?? []).flatMap((ss) => (ss.spans ?? []).map((s) => s.name)),
  );
}
