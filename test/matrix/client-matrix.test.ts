/**
 * Every client interceptor × the four call shapes × {handler answers, handler fails, client
 * cancels, deadline passes}: the exact status the caller sees and the interceptor's effect, per
 * cell (see matrix.ts). The server is the plain matrix server; `attempts` counts handler runs, so
 * a retry shows as attempts counted at the server.
 */
import type * as grpc from '@grpc/grpc-js';
import { bearerToken } from '@weft/auth';
import {
  type BreakerRejection,
  type BreakerTransition,
  clientLogging,
  signals,
  type ThrottleRejection,
} from '@weft/core';
import { clientMetrics, grpcOtelClientMetrics } from '@weft/metrics';
import { circuitBreaker, clientDeadline, clientThrottle, retry } from '@weft/resilience';
import { clientTracing } from '@weft/tracing';
import { Registry } from 'prom-client';
import { describe, it } from 'vitest';
import { testMeters } from '../../packages/metrics/test/grpc-otel';
import { setupOtel } from '../../packages/tracing/test/otel';
import { testProto } from '../harness';
import {
  byShape,
  type CellResult,
  type Cells,
  count,
  countingLogger,
  deadlineFact,
  type Effect,
  expectCells,
  expected,
  goMetrics,
  type MatrixServer,
  METHOD,
  otelCounts,
  promCounts,
  REQUESTS,
  type RunOptions,
  refused,
  runMatrix,
  type Seen,
  SHAPE_NAMES,
  type Shape,
  singleRequest,
  spanCounts,
  startMatrix,
} from './matrix';

interface RowSetup {
  run: RunOptions;
  cleanup?: () => void;
}

interface Row {
  name: string;
  /** `server` is a plain matrix server; a row plugs its interceptors into a client of it. */
  setup(server: MatrixServer): RowSetup | Promise<RowSetup>;
  /** Facts the server's handlers note, for rows whose effect shows there. */
  seen?: Seen;
  expected: Cells<CellResult>;
}

/** A client of `server` with `interceptors`, for one cell (fresh state per cell). */
const clientWith = (server: MatrixServer, ...interceptors: grpc.Interceptor[]) =>
  server.harness.newClient({ interceptors });

/** One call's gRFC A66 client instruments, recorded as its one attempt: sizes as count and bytes. */
function a66(shape: Shape, status: string, sentBytes: number, rcvdBytes: number): Effect {
  const m = METHOD[shape];
  const effect: Effect = {
    attempts: 1,
    [`grpc.client.attempt.started ${m}`]: 1,
    [`grpc.client.attempt.duration ${m} ${status}`]: 1,
    [`grpc.client.call.duration ${m} ${status}`]: 1,
  };
  for (const [name, bytes] of [
    ['sent', sentBytes],
    ['rcvd', rcvdBytes],
  ] as const) {
    const key = `grpc.client.attempt.${name}_total_compressed_message_size ${m} ${status}`;
    effect[key] = 1;
    if (bytes > 0) effect[`${key} bytes`] = bytes;
  }
  return effect;
}

const rows: Row[] = [
  {
    name: 'clientLogging',
    setup(server) {
      const { logger, effect } = countingLogger();
      const client = clientWith(server, clientLogging({ logger }));
      return { run: { measure: () => ({ ...effect }), cell: () => ({ client }) } };
    },
    // go-grpc-middleware's client levels: OK and Canceled debug, DeadlineExceeded info, Unavailable warn.
    expected: expected({
      ok: byShape((s) => ({ attempts: 1, [`debug finished call ${METHOD[s]} ${s} OK`]: 1 })),
      error: byShape((s) => ({ attempts: 1, [`warn finished call ${METHOD[s]} ${s} Unavailable`]: 1 })),
      cancel: byShape((s) => ({ attempts: 1, [`debug finished call ${METHOD[s]} ${s} Canceled`]: 1 })),
      deadline: byShape((s) => ({
        attempts: 1,
        [`info finished call ${METHOD[s]} ${s} DeadlineExceeded`]: 1,
      })),
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
      return { run: { measure: () => spanCounts(otel.spans()), cell: () => ({ client }) } };
    },
    // A client span is an error for every status but OK (OpenTelemetry's RPC conventions).
    expected: expected({
      ok: byShape((s) => ({ attempts: 1, [`span CLIENT ${METHOD[s]} UNSET 0`]: 1 })),
      error: byShape((s) => ({ attempts: 1, [`span CLIENT ${METHOD[s]} ERROR 14`]: 1 })),
      cancel: byShape((s) => ({ attempts: 1, [`span CLIENT ${METHOD[s]} ERROR 1`]: 1 })),
      deadline: byShape((s) => ({ attempts: 1, [`span CLIENT ${METHOD[s]} ERROR 4`]: 1 })),
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
          grpc_client_msg_sent_total: 'sent',
          grpc_client_msg_received_total: 'received',
          weft_client_in_flight_calls: 'in flight',
        });
      return { run: { measure, cell: () => ({ client }) } };
    },
    // Messages as the caller wrote and read them (a cancelled or expired stream wrote one request).
    expected: expected({
      ok: byShape((s) =>
        goMetrics('client', s, 'OK', REQUESTS[s], s === 'unary' || s === 'client_stream' ? 1 : 2),
      ),
      error: byShape((s) => goMetrics('client', s, 'Unavailable', REQUESTS[s], 0)),
      cancel: byShape((s) => goMetrics('client', s, 'Canceled', 1, 0)),
      deadline: byShape((s) => goMetrics('client', s, 'DeadlineExceeded', 1, 0)),
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
      const measure = () => otelCounts(() => meters.collect());
      return { run: { measure, cell: () => ({ client }) } };
    },
    // Without `attempt` in the chain the call is recorded as one attempt. Sizes: requests as the
    // call's serializer writes them (`ok`: 4 bytes), responses decoded and encoded again (`ok` with
    // index 0 or 1: 6 bytes).
    expected: expected({
      ok: byShape((s) => a66(s, 'OK', REQUESTS[s] * 4, s === 'unary' || s === 'client_stream' ? 6 : 12)),
      error: byShape((s) => a66(s, 'UNAVAILABLE', REQUESTS[s] * 7, 0)),
      cancel: byShape((s) => a66(s, 'CANCELLED', 8, 0)),
      deadline: byShape((s) => a66(s, 'DEADLINE_EXCEEDED', 10, 0)),
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
    seen: (call, note) => note(deadlineFact(call.getDeadline())),
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
      // `inFlight` is measured too: every cell must leave it where it was (no call leaks in flight).
      const measure = () => {
        const { requests, accepts, inFlight } = throttle.stats('matrix');
        return { requests, accepts, inFlight };
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
  // Rejections on the client: the call never reaches the network, so a `cancel` cell has
  // nothing to cancel and a `deadline` cell does not wait: every outcome sees the refusal.
  {
    name: 'circuitBreaker (open: refused)',
    async setup(server) {
      const rejections: Effect = {};
      const onRejection = (r: BreakerRejection) => count(rejections, `breakerRejection ${r.method.method}`);
      signals.breakerRejection.subscribe(onRejection);
      const client = clientWith(
        server,
        circuitBreaker({ minimumCalls: 1, failureRatio: 1, cooldownMs: 60_000 }),
      );
      // One failure per method opens each method's breaker.
      for (const shape of SHAPE_NAMES) await server.call(shape, 'error', { client });
      return {
        run: { measure: () => ({ ...rejections }), cell: () => ({ client, reachesHandler: false }) },
        cleanup: () => signals.breakerRejection.unsubscribe(onRejection),
      };
    },
    expected: refused(
      (s) => ({ [`breakerRejection ${METHOD[s]}`]: 1 }),
      (s) => `UNAVAILABLE circuit open for weft.test.TestService/${METHOD[s]}`,
    ),
  },
  {
    name: 'clientThrottle (throttling: refused)',
    async setup(server) {
      const rejections: Effect = {};
      const onRejection = (r: ThrottleRejection) =>
        count(rejections, `throttleRejection ${r.method.method} ${r.target}`);
      signals.throttleRejection.subscribe(onRejection);
      // K = 1 and no minimum: one refusal by the target makes the chance of refusing positive,
      // and random() = 0 draws under any positive chance.
      const throttle = clientThrottle({ target: 'matrix', k: 1, minRequests: 0, random: () => 0 });
      const client = clientWith(server, throttle);
      await server.call('unary', 'error', { client });
      const measure = () => ({ ...rejections, requests: throttle.stats('matrix').requests });
      return {
        run: { measure, cell: () => ({ client, reachesHandler: false }) },
        cleanup: () => signals.throttleRejection.unsubscribe(onRejection),
      };
    },
    // A refused call still counts as a request the target did not accept.
    expected: refused(
      (s) => ({ [`throttleRejection ${METHOD[s]} matrix`]: 1, requests: 1 }),
      (s) =>
        `UNAVAILABLE throttled on the client: matrix refuses too many calls (weft.test.TestService/${METHOD[s]})`,
    ),
  },
];

describe('client interceptors: shape × outcome', () => {
  it.each(rows.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    const server = await startMatrix({ seen: row.seen });
    const { run, cleanup } = await row.setup(server);
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
