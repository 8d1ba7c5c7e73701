import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, metadata, startHarness, unary } from '../../../test/harness';
import {
  clientLogging,
  type Logger,
  type LogLevel,
  serverCallContext,
  serverCodeToLevel,
  serverLogging,
} from '../src/index';

interface Line {
  level: LogLevel;
  fields: Record<string, unknown>;
  message: string;
}

function memoryLogger(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: LogLevel) => (fields: Record<string, unknown>, message: string) =>
    void lines.push({ level, fields, message });
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

/** Stands in for auth/tracing: adds fields to the call's log line. */
const addFields: grpc.ServerInterceptor = (definition, call) => {
  serverCallContext(definition, call).addLogFields({ subject: 'alice', trace_id: 'abc' });
  return new grpc.ServerInterceptingCall(call);
};

describe('serverLogging', () => {
  let harness: Harness | undefined;
  afterEach(async () => harness?.close());

  it('writes one line per call with method, code, duration, peer and context fields, and no payload', async () => {
    const { logger, lines } = memoryLogger();
    harness = await startHarness({ serverInterceptors: [serverLogging({ logger }), addFields] });
    await unary(harness.client, { message: 'secret payload' });
    await new Promise((r) => setTimeout(r, 20));
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line).toMatchObject({ level: 'info', message: 'finished call' });
    expect(line.fields).toMatchObject({
      'grpc.component': 'server',
      'grpc.service': 'weft.test.TestService',
      'grpc.method': 'Unary',
      'grpc.method_type': 'unary',
      'grpc.code': 'OK',
      subject: 'alice',
      trace_id: 'abc',
    });
    expect(line.fields['peer.address']).toMatch(/127\.0\.0\.1/);
    expect(line.fields['grpc.time_ms']).toBeGreaterThan(0);
    expect(JSON.stringify(lines)).not.toContain('secret payload');
  });

  it.each([
    [grpc.status.NOT_FOUND, 'info'],
    [grpc.status.RESOURCE_EXHAUSTED, 'warn'],
    [grpc.status.INTERNAL, 'error'],
  ] as const)('logs code %i at %s', async (code, level) => {
    const { logger, lines } = memoryLogger();
    harness = await startHarness({ serverInterceptors: [serverLogging({ logger })] });
    await unary(harness.client, { failCode: code, failMessage: 'why' }, {}, 'Fail');
    await new Promise((r) => setTimeout(r, 20));
    expect(lines[0]?.level).toBe(level);
    expect(lines[0]?.fields['grpc.error']).toBe('why');
    expect(serverCodeToLevel(code)).toBe(level);
  });

  it('logs payloads only when asked', async () => {
    const { logger, lines } = memoryLogger();
    harness = await startHarness({ serverInterceptors: [serverLogging({ logger, logPayloads: true })] });
    await unary(harness.client, { message: 'visible' }, { metadata: metadata({ a: 'b' }) });
    await new Promise((r) => setTimeout(r, 20));
    const payloads = lines.filter((l) => l.message === 'payload');
    expect(payloads.map((l) => Object.keys(l.fields).find((k) => k.endsWith('.content')))).toEqual([
      'grpc.request.content',
      'grpc.response.content',
    ]);
    expect(JSON.stringify(payloads)).toContain('visible');
  });
});

describe('clientLogging', () => {
  let harness: Harness | undefined;
  afterEach(async () => harness?.close());

  it('logs success at debug and failures at warn from the caller side', async () => {
    const { logger, lines } = memoryLogger();
    harness = await startHarness({ clientInterceptors: [clientLogging({ logger })] });
    await unary(harness.client, {});
    await unary(harness.client, { failCode: grpc.status.UNAVAILABLE }, {}, 'Fail');
    expect(lines.map((l) => [l.level, l.fields['grpc.component'], l.fields['grpc.code']])).toEqual([
      ['debug', 'client', 'OK'],
      ['warn', 'client', 'Unavailable'],
    ]);
  });
});
