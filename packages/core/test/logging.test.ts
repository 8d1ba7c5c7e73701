import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, metadata, startHarness, unary } from '../../../test/harness';
import {
  ALL_CODES,
  CODE_NAMES,
  clientCodeToLevel,
  clientLogging,
  codeName,
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

function memoryLogger(): { logger: Logger; lines: Line[]; finished: () => Promise<void> } {
  const lines: Line[] = [];
  // The server writes its call's line after the status went out: tests wait for it, not for a time.
  let onFinished: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    onFinished = resolve;
  });
  const at = (level: LogLevel) => (fields: Record<string, unknown>, message: string) => {
    lines.push({ level, fields, message });
    if (message === 'finished call') onFinished();
  };
  return {
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
    lines,
    finished: () => finished,
  };
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
    const { logger, lines, finished } = memoryLogger();
    harness = await startHarness({ serverInterceptors: [serverLogging({ logger }), addFields] });
    await unary(harness.client, { message: 'secret payload' });
    await finished();
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
    const { logger, lines, finished } = memoryLogger();
    harness = await startHarness({ serverInterceptors: [serverLogging({ logger })] });
    await unary(harness.client, { failCode: code, failMessage: 'why' }, {}, 'Fail');
    await finished();
    expect(lines[0]?.level).toBe(level);
    expect(lines[0]?.fields['grpc.error']).toBe('why');
    expect(serverCodeToLevel(code)).toBe(level);
  });

  it('logs payloads only when asked', async () => {
    const { logger, lines, finished } = memoryLogger();
    harness = await startHarness({ serverInterceptors: [serverLogging({ logger, logPayloads: true })] });
    await unary(harness.client, { message: 'visible' }, { metadata: metadata({ a: 'b' }) });
    await finished();
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

/**
 * The reference: go-grpc-middleware v2, interceptors/logging/options.go (commit 07b4ff52301a993a7cfc2d2f0c6d8a75153cad7a),
 * quoted verbatim. weft's defaults must give every one of the 17 codes the level Go gives it.
 */
const GO_OPTIONS_GO = `
// DefaultServerCodeToLevel is the helper mapper that maps gRPC return codes to log levels for server side.
func DefaultServerCodeToLevel(code codes.Code) Level {
	switch code {
	case codes.OK, codes.NotFound, codes.Canceled, codes.AlreadyExists, codes.InvalidArgument, codes.Unauthenticated:
		return INFO

	case codes.DeadlineExceeded, codes.PermissionDenied, codes.ResourceExhausted, codes.FailedPrecondition, codes.Aborted,
		codes.OutOfRange, codes.Unavailable:
		return WARNING

	case codes.Unknown, codes.Unimplemented, codes.Internal, codes.DataLoss:
		return ERROR

	default:
		return ERROR
	}
}

// DefaultClientCodeToLevel is the helper mapper that maps gRPC return codes to log levels for client side.
func DefaultClientCodeToLevel(code codes.Code) Level {
	switch code {
	case codes.OK, codes.Canceled, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.ResourceExhausted,
		codes.FailedPrecondition, codes.Aborted, codes.OutOfRange:
		return DEBUG
	case codes.Unknown, codes.DeadlineExceeded, codes.PermissionDenied, codes.Unauthenticated:
		return INFO
	case codes.Unimplemented, codes.Internal, codes.Unavailable, codes.DataLoss:
		return WARNING
	default:
		return INFO
	}
}
`;

/** Go's table for one side, read from the quote above: Go code name -> weft level. */
function goTable(func: 'DefaultServerCodeToLevel' | 'DefaultClientCodeToLevel'): Map<string, LogLevel> {
  const body = GO_OPTIONS_GO.slice(GO_OPTIONS_GO.indexOf(`func ${func}(`)).split('\n}\n')[0] ?? '';
  const levels: Record<string, LogLevel> = { DEBUG: 'debug', INFO: 'info', WARNING: 'warn', ERROR: 'error' };
  const table = new Map<string, LogLevel>();
  for (const [, cases = '', level = ''] of body.matchAll(/case ((?:codes\.\w+,?\s*)+):\s*return (\w+)/g)) {
    for (const [, name = ''] of cases.matchAll(/codes\.(\w+)/g)) table.set(name, levels[level] as LogLevel);
  }
  return table;
}

describe('code-to-level defaults match go-grpc-middleware v2', () => {
  const server = goTable('DefaultServerCodeToLevel');
  const client = goTable('DefaultClientCodeToLevel');

  it("reads all 17 codes from both of Go's tables", () => {
    expect([...server.keys()].sort()).toEqual([...CODE_NAMES].sort());
    expect([...client.keys()].sort()).toEqual([...CODE_NAMES].sort());
  });

  it.each(ALL_CODES.map((code) => [codeName(code), code] as const))(
    '%s: server and client levels',
    (name, code) => {
      expect({ server: serverCodeToLevel(code), client: clientCodeToLevel(code) }).toEqual({
        server: server.get(name),
        client: client.get(name),
      });
    },
  );

  it("logs each code at Go's level on both sides of a real call", async () => {
    const { logger: serverLogger, lines: serverLines } = memoryLogger();
    const { logger: clientLogger, lines: clientLines } = memoryLogger();
    const harness = await startHarness({
      serverInterceptors: [serverLogging({ logger: serverLogger })],
      clientInterceptors: [clientLogging({ logger: clientLogger })],
    });
    try {
      for (const code of ALL_CODES) {
        if (code === grpc.status.OK) await unary(harness.client, {});
        else await unary(harness.client, { failCode: code, failMessage: 'on purpose' }, {}, 'Fail');
      }
    } finally {
      await harness.close();
    }
    const byCode = (lines: Line[]) => lines.map((l) => [l.fields['grpc.code'], l.level]);
    const expected = (table: Map<string, LogLevel>) =>
      ALL_CODES.map((c) => [codeName(c), table.get(codeName(c))]);
    expect(byCode(clientLines)).toEqual(expected(client));
    // A server line may land just after its client saw the status: compared as a set, after close.
    expect(byCode(serverLines).sort()).toEqual(expected(server).sort());
  });
});
