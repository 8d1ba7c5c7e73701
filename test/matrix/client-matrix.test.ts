/**
 * Every client interceptor × the four call shapes × {handler answers, handler fails, client
 * cancels, deadline passes}: the exact status the caller sees and the interceptor's effect, per
 * cell (see matrix.ts). The server is the plain matrix server; `attempts` counts handler runs, so
 * a retry shows as attempts counted at the server.
 */
import type * as grpc from '@grpc/grpc-js';
import { SpanStatusCode } from '@opentelemetry/api';
import { bearerToken } from '@weft/auth';
import { type BreakerTransition, clientLogging, type Logger, type LogLevel, signals } from '@weft/core';
import { clientMetrics, grpcOtelClientMetrics } from '@weft/metrics';
import { circuitBreaker, clientDeadline, clientThrottle, deadlineMs, retry } from '@weft/resilience';
import { clientTracing } from '@weft/tracing';
import { Registry } from 'prom-client';
import { describe, it } from 'vitest';
import { testMeters } from '../../packages/metrics/test/grpc-otel';
import { setupOtel } from '../../packages/tracing/test/otel';
import { testProto } from '../harness';
import {
  type CellResult,
  type Cells,
  count,
  DEADLINE_MS,
  type Effect,
  expectCells,
  expected,
  type MatrixServer,
  perShape,
  type RunOptions,
  runMatrix,
  type Seen,
  singleRequest,
  startMatrix,
} from './matrix';

interface Row {
  name: string;
  /** `server` is a plain matrix server; a row plugs its interceptors into a client of it. */
  setup(server: MatrixServer): { run: RunOptions; cleanup?: () => void };
  /** Facts the server's handlers note, for rows whose effect shows there. */
  seen?: Seen;
  expected: Cells<CellResult>;
}

/** A client of `server` with `interceptors`, for one cell (fresh state per cell). */
const clientWith = (server: MatrixServer, ...interceptors: grpc.Interceptor[]) =>
  server.harness.newClient({ interceptors });

/** prom-client's samples of a family, by `grpc_code` when it has one, summed. */
async function promCounts(registry: Registry, families: Record<string, string>): Promise<Effect> {
  const effect: Effect = {};
  for (const metric of await registry.getMetricsAsJSON()) {
    const short = families[metric.name] ?? families[`${metric.name}_count`];
    if (short === undefined) continue;
    const values = metric.values as {
      value: number;
      metricName?: string;
      labels: Record<string, string | number>;
    }[];
    for (const v of values) {
      if (v.metricName !== undefined && families[v.metricName] !== short) continue;
      const code = v.labels.grpc_code;
      count(effect, code === undefined ? short : `${short} ${code}`, v.value);
    }
  }
  return effect;
}

/** One call's gRFC A66 client instruments, recorded as its one attempt: sizes as count and bytes. */
function a66(status: string, sentBytes: number, rcvdBytes: number): Effect {
  const effect: Effect = {
    attempts: 1,
    'grpc.client.attempt.started': 1,
    [`grpc.client.attempt.duration ${status}`]: 1,
    [`grpc.client.call.duration ${status}`]: 1,
  };
  for (const [name, bytes] of [
    ['sent', sentBytes],
    ['rcvd', rcvdBytes],
  ] as const) {
    const key = `grpc.client.attempt.${name}_total_compressed_message_size ${status}`;
    effect[key] = 1;
    if (bytes > 0) effect[`${key} bytes`] = bytes;
  }
  return effect;
}

const rows: Row[] = [
  {
    name: 'clientLogging',
    setup(server) {
      const effect: Effect = {};
      const line = (level: LogLevel) => (fields: Record<string, unknown>, message: string) =>
        count(effect, `${level} ${message} ${fields['grpc.code']}`);
      const logger: Logger = {
        debug: line('debug'),
        info: line('info'),
        warn: line('warn'),
        error: line('error'),
      };
      const client = clientWith(server, clientLogging({ logger }));
      return { run: { measure: () => ({ ...effect }), cell: () => ({ client }) } };
    },
    // go-grpc-middleware's client levels: OK and Canceled debug, DeadlineExceeded info, Unavailable warn.
    expected: expected({
      ok: { attempts: 1, 'debug finished call OK': 1 },
      error: { attempts: 1, 'warn finished call Unavailable': 1 },
      cancel: { attempts: 1, 'debug finished call Canceled': 1 },
      deadline: { attempts: 1, 'info finished call DeadlineExceeded': 1 },
    }),
  },
  {
    name: 'bearerToken (a token provider, fresh per cell)',
    seen: (call, note) => note(`authorization ${call.metadata.get('authorization').join(',')}`),
    setup(server) {
      let fetched = 0;
      const source = () => {
        fetched++;
        return { token: 'matrix-token', expiresAt: Date.now() + 3_600_000 };
      };
      return {
        run: {
          measure: () => ({ 'tokens fetched': fetched }),
          cell: () => ({ client: clientWith(server, bearerToken(source)) }),
        },
      };
    },
    expected: expected({
      ok: { attempts: 1, 'tokens fetched': 1, 'authorization Bearer matrix-token': 1 },
      error: { attempts: 1, 'tokens fetched': 1, 'authorization Bearer matrix-token': 1 },
      cancel: { attempts: 1, 'tokens fetched': 1, 'authorization Bearer matrix-token': 1 },
      deadline: { attempts: 1, 'tokens fetched': 1, 'authorization Bearer matrix-token': 1 },
    }),
  },
  {
    name: 'clientTracing',
    setup(server) {
      const otel = setupOtel();
      const client = clientWith(server, clientTracing({ tracerProvider: otel.provider }));
      const measure = () => {
        const effect: Effect = {};
        for (const span of otel.spans())
          count(
            effect,
            `span ${SpanStatusCode[span.status.code]} ${span.attributes['rpc.grpc.status_code']}`,
          );
        return effect;
      };
      return { run: { measure, cell: () => ({ client }) } };
    },
    // A client span is an error for every status but OK (OpenTelemetry's RPC conventions).
    expected: expected({
      ok: { attempts: 1, 'span UNSET 0': 1 },
      error: { attempts: 1, 'span ERROR 14': 1 },
      cancel: { attempts: 1, 'span ERROR 1': 1 },
      deadline: { attempts: 1, 'span ERROR 4': 1 },
    }),
  },
  {
    name: 'clientMetrics',
    setup(server) {
      const registry = new Registry();
      const client = clientWith(server, clientMetrics({ registry }));
      const measure = () =>
        promCounts(registry, {
          grpc_client_started_total: 'started',
          grpc_client_handled_total: 'handled',
          grpc_client_handling_seconds_count: 'timed',
          weft_client_in_flight_calls: 'in flight',
        });
      return { run: { measure, cell: () => ({ client }) } };
    },
    expected: expected({
      ok: { attempts: 1, started: 1, 'handled OK': 1, timed: 1 },
      error: { attempts: 1, started: 1, 'handled Unavailable': 1, timed: 1 },
      cancel: { attempts: 1, started: 1, 'handled Canceled': 1, timed: 1 },
      deadline: { attempts: 1, started: 1, 'handled DeadlineExceeded': 1, timed: 1 },
    }),
  },
  {
    name: 'grpcOtelClientMetrics (gRFC A66)',
    setup(server) {
      const meters = testMeters();
      const client = clientWith(
        server,
        grpcOtelClientMetrics({
          meterProvider: meters.meterProvider,
          services: [testProto().weft.test.TestService.service],
        }),
      );
      const measure = async () => {
        const effect: Effect = {};
        for (const [name, metric] of await meters.collect()) {
          for (const p of metric.dataPoints) {
            const value = p.value as number | { count: number; sum: number };
            const status = p.attributes['grpc.status'];
            const key = status === undefined ? name : `${name} ${status}`;
            if (typeof value === 'number') count(effect, key, value);
            else {
              count(effect, key, value.count);
              if (name.endsWith('_size')) count(effect, `${key} bytes`, value.sum);
            }
          }
        }
        return effect;
      };
      return { run: { measure, cell: () => ({ client }) } };
    },
    // Without `attempt` in the chain the call is recorded as one attempt. Sizes: requests as the
    // call's serializer writes them (`ok`: 4 bytes), responses decoded and encoded again (`ok` with
    // index 0 or 1: 6 bytes).
    expected: expected({
      ok: perShape({
        unary: a66('OK', 4, 6),
        client_stream: a66('OK', 8, 6),
        server_stream: a66('OK', 4, 12),
        bidi_stream: a66('OK', 8, 12),
      }),
      error: singleRequest(a66('UNAVAILABLE', 7, 0), a66('UNAVAILABLE', 14, 0)),
      cancel: a66('CANCELLED', 8, 0),
      deadline: a66('DEADLINE_EXCEEDED', 10, 0),
    }),
  },
  {
    name: 'retry (3 attempts)',
    setup(server) {
      let signalled = 0;
      const onRetry = () => void signalled++;
      signals.retryAttempt.subscribe(onRetry);
      const client = clientWith(server, retry({ maxAttempts: 3, initialBackoff: 1 }));
      return {
        run: { measure: () => ({ 'retry signals': signalled }), cell: () => ({ client }) },
        cleanup: () => signals.retryAttempt.unsubscribe(onRetry),
      };
    },
    // Unary and server-streaming calls are retried (UNAVAILABLE, nothing received yet); client
    // streams and bidi pass through; a cancel or a passed deadline is never retried.
    expected: expected({
      ok: { attempts: 1 },
      error: singleRequest<Effect>({ attempts: 3, 'retry signals': 2 }, { attempts: 1 }),
      cancel: { attempts: 1 },
      deadline: { attempts: 1 },
    }),
  },
  {
    name: 'circuitBreaker (one failure opens it; fresh per cell)',
    setup(server) {
      const transitions: Effect = {};
      const onTransition = (t: BreakerTransition) => {
        if (t.target === 'matrix') count(transitions, `${t.from} -> ${t.to}`);
      };
      signals.breakerTransition.subscribe(onTransition);
      const cell = () => ({
        client: clientWith(server, circuitBreaker({ minimumCalls: 1, failureRatio: 1, target: 'matrix' })),
      });
      return {
        run: { measure: () => ({ ...transitions }), cell },
        cleanup: () => signals.breakerTransition.unsubscribe(onTransition),
      };
    },
    // UNAVAILABLE and DEADLINE_EXCEEDED are failures (BREAKER_FAILURE_CODES); a cancel is neither.
    expected: expected({
      ok: { attempts: 1 },
      error: { attempts: 1, 'closed -> open': 1 },
      cancel: { attempts: 1 },
      deadline: { attempts: 1, 'closed -> open': 1 },
    }),
  },
  {
    name: 'clientDeadline (default 60 s)',
    seen: (call, note) => {
      const left = deadlineMs(call.getDeadline()) - Date.now();
      note(
        !Number.isFinite(left)
          ? 'deadline none'
          : left <= DEADLINE_MS
            ? 'deadline the caller’s'
            : `deadline ${Math.round(left / 1000)} s`,
      );
    },
    setup(server) {
      const client = clientWith(server, clientDeadline({ default: 60_000 }));
      return { run: { measure: () => ({}), cell: () => ({ client }) } };
    },
    expected: expected({
      ok: { attempts: 1, 'deadline 60 s': 1 },
      error: { attempts: 1, 'deadline 60 s': 1 },
      cancel: { attempts: 1, 'deadline 60 s': 1 },
      deadline: { attempts: 1, 'deadline the caller’s': 1 },
    }),
  },
  {
    name: 'clientThrottle',
    setup(server) {
      const throttle = clientThrottle({ target: 'matrix' });
      const client = clientWith(server, throttle);
      const measure = () => {
        const { requests, accepts } = throttle.stats('matrix');
        return { requests, accepts };
      };
      return { run: { measure, cell: () => ({ client }) } };
    },
    // UNAVAILABLE is the target refusing; everything else, a cancel and a deadline included, was
    // accepted (SRE's adaptive throttling counts what the backend took).
    expected: expected({
      ok: { attempts: 1, requests: 1, accepts: 1 },
      error: { attempts: 1, requests: 1 },
      cancel: { attempts: 1, requests: 1, accepts: 1 },
      deadline: { attempts: 1, requests: 1, accepts: 1 },
    }),
  },
];

describe('client interceptors: shape × outcome', () => {
  it.each(rows.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    const server = await startMatrix({ seen: row.seen });
    const { run, cleanup } = row.setup(server);
    try {
      const cells = await runMatrix(server, run);
      if (process.env.MATRIX_DEBUG) console.log(row.name, JSON.stringify(cells));
      expectCells(cells, row.expected);
    } finally {
      cleanup?.();
      await server.close();
    }
  });
});
