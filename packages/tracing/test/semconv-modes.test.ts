/**
 * The RPC semantic-convention modes (OTEL_SEMCONV_STABILITY_OPT_IN / the `semconv` option), on real
 * spans of real calls: exact attribute keys and values per mode, side and outcome.
 */
import * as grpc from '@grpc/grpc-js';
import type { Attributes } from '@opentelemetry/api';
import { SpanKind } from '@opentelemetry/api';
import { signals } from '@weft/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Harness, metadata, startHarness, unary } from '../../../test/harness';
import { clientTracing, serverTracing } from '../src/index';
import { setupOtel, waitFor } from './otel';

const otel = setupOtel();
const ENV = 'OTEL_SEMCONV_STABILITY_OPT_IN';
const SERVICE = 'weft.test.TestService';

type Expected = 'old' | 'new' | 'dup';
interface ModeCase {
  readonly name: string;
  /** OTEL_SEMCONV_STABILITY_OPT_IN when the interceptors are made (`undefined`: unset). */
  readonly env: string | undefined;
  readonly option?: 'old' | 'new' | 'dup';
  readonly expected: Expected;
}

const MODES: readonly ModeCase[] = [
  { name: 'env unset', env: undefined, expected: 'old' },
  { name: 'env rpc', env: 'rpc', expected: 'new' },
  { name: 'env rpc/dup', env: 'rpc/dup', expected: 'dup' },
  { name: 'env " http , RPC " (list, trimmed, any case)', env: ' http , RPC ', expected: 'new' },
  { name: 'env "rpc,rpc/dup" (dup wins)', env: 'rpc,rpc/dup', expected: 'dup' },
  { name: 'env http/dup only', env: 'http/dup', expected: 'old' },
  { name: 'option new over env rpc/dup', env: 'rpc/dup', option: 'new', expected: 'new' },
  { name: 'option old over env rpc', env: 'rpc', option: 'old', expected: 'old' },
  { name: 'option dup, env unset', env: undefined, option: 'dup', expected: 'dup' },
];

const OUTCOMES = [
  { outcome: 'OK', code: grpc.status.OK },
  { outcome: 'NOT_FOUND', code: grpc.status.NOT_FOUND },
] as const;

/** The attributes a span must carry, exactly (the peer port is the one variable). */
function expectedAttributes(
  side: 'server' | 'client',
  mode: Expected,
  code: grpc.status,
  port: number,
): Attributes {
  const old: Attributes = {
    'rpc.system': 'grpc',
    'rpc.service': SERVICE,
    'rpc.method': 'Unary',
    'rpc.grpc.status_code': code,
    'rpc.grpc.request.metadata.x-tenant': ['acme'],
  };
  const name = grpc.status[code];
  const next: Attributes = {
    'rpc.system.name': 'grpc',
    'rpc.method': `${SERVICE}/Unary`,
    'rpc.status_code': name,
    'rpc.request.metadata.x-tenant': ['acme'],
  };
  // dup: both sets; the old `rpc.method` value (`Unary`) wins where the names collide.
  const attributes: Attributes =
    mode === 'old' ? { ...old } : mode === 'new' ? { ...next } : { ...next, ...old };
  if (side === 'server') {
    attributes['network.peer.address'] = '127.0.0.1';
    attributes['network.peer.port'] = expect.any(Number) as unknown as number;
  } else {
    // In every mode: from the `target` option.
    attributes['server.address'] = '127.0.0.1';
    attributes['server.port'] = port;
  }
  // The server marks only its own faults as errors; for the caller every non-OK code is one.
  if (side === 'client' && code !== grpc.status.OK) attributes['error.type'] = name;
  return attributes;
}

describe('semantic-convention modes', () => {
  let harness: Harness | undefined;
  beforeEach(() => otel.reset());
  afterEach(async () => {
    vi.unstubAllEnvs();
    await harness?.close();
    harness = undefined;
  });

  describe.each(MODES)('$name', ({ env, option, expected }) => {
    it.each(OUTCOMES.flatMap((o) => (['server', 'client'] as const).map((side) => ({ ...o, side }))))(
      '$side span of a $outcome call carries the $side attributes of the mode',
      async ({ side, code }) => {
        if (env === undefined) vi.stubEnv(ENV, undefined);
        else vi.stubEnv(ENV, env);
        const common = { tracerProvider: otel.provider, metadataAttributes: ['x-tenant'], semconv: option };
        harness = await startHarness({ serverInterceptors: [serverTracing(common)] });
        const client = harness.newClient({
          interceptors: [clientTracing({ ...common, target: harness.address })],
        });
        // Read once, when the interceptors are made: changing the environment later changes nothing.
        vi.stubEnv(ENV, expected === 'old' ? 'rpc/dup' : undefined);

        const result = await unary(
          client,
          { failCode: code },
          { metadata: metadata({ 'x-tenant': 'acme' }) },
        );
        expect(result.status.code).toBe(code);
        await waitFor(() => otel.spans().length === 2);
        const span = otel
          .spans()
          .find((s) => s.kind === (side === 'server' ? SpanKind.SERVER : SpanKind.CLIENT));
        expect(span?.name).toBe(`${SERVICE}/Unary`);
        expect(span?.attributes).toEqual(expectedAttributes(side, expected, code, harness.port));
      },
    );
  });

  it.each([
    { semconv: 'new' as const, attributes: { 'rpc.status_code': 'UNAVAILABLE' } },
    { semconv: 'dup' as const, attributes: { 'rpc.grpc.status_code': 14, 'rpc.status_code': 'UNAVAILABLE' } },
  ])('writes retry events in the $semconv names too', async ({ semconv, attributes }) => {
    // Stands in for @weft/resilience's retry(): it runs below tracing and publishes attempts.
    const innerRetry: grpc.Interceptor = (options, nextCall) =>
      new grpc.InterceptingCall(nextCall(options), {
        start(md, listener, next) {
          signals.retryAttempt.publish({
            method: { path: '/x/Y', fullMethod: 'x/Y', service: 'x', method: 'Y', type: 'unary' },
            attempt: 2,
            code: grpc.status.UNAVAILABLE,
          });
          next(md, listener);
        },
      });
    harness = await startHarness({
      clientInterceptors: [clientTracing({ tracerProvider: otel.provider, semconv }), innerRetry],
    });
    await unary(harness.client, {});
    expect(otel.spans()[0]?.events.map((e) => [e.name, e.attributes])).toEqual([
      ['retry', { 'rpc.retry.attempt': 2, ...attributes }],
    ]);
  });

  it("rejects a semconv value that is not 'old', 'new' or 'dup'", () => {
    expect(() => serverTracing({ semconv: 'stable' as 'new' })).toThrow(
      /semconv must be 'old', 'new' or 'dup'/,
    );
  });
});
