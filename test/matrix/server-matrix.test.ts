/**
 * Every server interceptor × the four call shapes × {handler answers, handler fails, client
 * cancels, deadline passes}: the exact status the caller sees and the interceptor's effect, per
 * cell. One row per interceptor: `setup` builds a matrix server with it and says how to read its
 * effect; `expected` has one value per (shape, outcome). See matrix.ts for how a cell runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  authenticatedPeer,
  authIdentity,
  jwtAuth,
  peerIdentity,
  tlsChannelCredentials,
  tlsServerCredentials,
} from '@weft/auth';
import {
  type AdaptiveConcurrencyState,
  type AuthFailure,
  getCallContext,
  type LimitRejection,
  recovery,
  serverLogging,
  signals,
} from '@weft/core';
import { grpcOtelServerMetrics, serverMetrics } from '@weft/metrics';
import {
  adaptiveConcurrency,
  concurrencyLimit,
  memoryStore,
  type RateLimitStore,
  rateLimit,
  serverDeadline,
} from '@weft/resilience';
import { serverTracing } from '@weft/tracing';
import jwt from 'jsonwebtoken';
import { Registry } from 'prom-client';
import { afterAll, describe, it } from 'vitest';
import { DevCa } from '../../examples/user-service/src/dev-certs';
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
  type Shape,
  spanCounts,
  startMatrix,
} from './matrix';

interface Row {
  name: string;
  setup(): Promise<{ server: MatrixServer; run: RunOptions; cleanup?: () => void }>;
  expected: Cells<CellResult>;
}

const SECRET = 'a matrix secret of at least 32 bytes!';
const bearer = (subject: string) => {
  const md = new grpc.Metadata();
  const token = jwt.sign({ sub: subject }, SECRET, { algorithm: 'HS256', expiresIn: 3600 });
  md.set('authorization', `Bearer ${token}`);
  return md;
};

/** One call's gRFC A66 server instruments: started, duration and the two sizes (count, bytes). */
function a66(shape: Shape, status: string, sentBytes: number, rcvdBytes: number): Effect {
  const m = METHOD[shape];
  const effect: Effect = {
    attempts: 1,
    [`grpc.server.call.started ${m}`]: 1,
    [`grpc.server.call.duration ${m} ${status}`]: 1,
  };
  for (const [name, bytes] of [
    ['sent', sentBytes],
    ['rcvd', rcvdBytes],
  ] as const) {
    const key = `grpc.server.call.${name}_total_compressed_message_size ${m} ${status}`;
    effect[key] = 1;
    if (bytes > 0) effect[`${key} bytes`] = bytes;
  }
  return effect;
}

/** Bytes sent and received by an `ok` call of each shape (see the A66 row). */
const OK_SIZES: Record<Shape, [number, number]> = {
  unary: [6, 12],
  client_stream: [6, 24],
  server_stream: [12, 12],
  bidi_stream: [12, 24],
};

const CERTS = mkdtempSync(join(tmpdir(), 'weft-matrix-'));
afterAll(() => rmSync(CERTS, { recursive: true, force: true }));
const SPIFFE = 'spiffe://example.org/ns/matrix/sa/client';

const rows: Row[] = [
  {
    name: 'recovery (the handler rejects)',
    async setup() {
      let errors = 0;
      const server = await startMatrix({
        serverInterceptors: [recovery({ onError: () => void errors++ })],
        throws: true,
      });
      return { server, run: { measure: () => ({ onError: errors }) } };
    },
    expected: expected(
      {
        ok: { attempts: 1 },
        error: { attempts: 1, onError: 1 },
        cancel: { attempts: 1 },
        deadline: { attempts: 1 },
      },
      { error: 'INTERNAL Internal error' },
    ),
  },
  {
    name: 'serverLogging',
    async setup() {
      const { logger, effect } = countingLogger();
      const server = await startMatrix({ serverInterceptors: [serverLogging({ logger })] });
      return { server, run: { measure: () => ({ ...effect }) } };
    },
    // go-grpc-middleware's server levels: OK and Canceled info, Unavailable and DeadlineExceeded warn.
    expected: expected({
      ok: byShape((s) => ({ attempts: 1, [`info finished call ${METHOD[s]} ${s} OK`]: 1 })),
      error: byShape((s) => ({ attempts: 1, [`warn finished call ${METHOD[s]} ${s} Unavailable`]: 1 })),
      cancel: byShape((s) => ({ attempts: 1, [`info finished call ${METHOD[s]} ${s} Canceled`]: 1 })),
      deadline: byShape((s) => ({
        attempts: 1,
        [`warn finished call ${METHOD[s]} ${s} DeadlineExceeded`]: 1,
      })),
    }),
  },
  {
    name: 'jwtAuth (a valid token)',
    async setup() {
      let failures = 0;
      const onFailure = (_: AuthFailure) => void failures++;
      signals.authFailure.subscribe(onFailure);
      const server = await startMatrix({
        serverInterceptors: [jwtAuth({ keys: { secret: SECRET }, algorithms: ['HS256'] })],
        seen: (_call, note) => note(`subject ${authIdentity()?.subject}`),
      });
      return {
        server,
        run: { measure: () => ({ authFailures: failures }), cell: () => ({ metadata: bearer('alice') }) },
        cleanup: () => signals.authFailure.unsubscribe(onFailure),
      };
    },
    expected: expected({
      ok: { attempts: 1, 'subject alice': 1 },
      error: { attempts: 1, 'subject alice': 1 },
      cancel: { attempts: 1, 'subject alice': 1 },
      deadline: { attempts: 1, 'subject alice': 1 },
    }),
  },
  {
    name: 'peerIdentity (mutual TLS)',
    async setup() {
      // Two P-256 certificates from Debian's openssl: a few tens of ms.
      const ca = DevCa.create(CERTS, 'ca');
      const serverCert = ca.issue('server', { dnsNames: ['localhost'], ips: ['127.0.0.1'], usage: 'server' });
      const client = ca.issue('client', { uris: [SPIFFE], usage: 'client' });
      let failures = 0;
      const onFailure = (_: AuthFailure) => void failures++;
      signals.authFailure.subscribe(onFailure);
      const server = await startMatrix({
        serverInterceptors: [peerIdentity()],
        seen: (_call, note) => note(`peer ${authenticatedPeer()?.id}`),
        serverCredentials: tlsServerCredentials({
          files: { certFile: serverCert.certFile, keyFile: serverCert.keyFile, caFile: ca.certFile },
          requireClientCertificate: true,
        }),
        clientCredentials: tlsChannelCredentials({
          files: { caFile: ca.certFile, certFile: client.certFile, keyFile: client.keyFile },
        }),
      });
      return {
        server,
        run: { measure: () => ({ authFailures: failures }) },
        cleanup: () => signals.authFailure.unsubscribe(onFailure),
      };
    },
    expected: expected({
      ok: { attempts: 1, [`peer ${SPIFFE}`]: 1 },
      error: { attempts: 1, [`peer ${SPIFFE}`]: 1 },
      cancel: { attempts: 1, [`peer ${SPIFFE}`]: 1 },
      deadline: { attempts: 1, [`peer ${SPIFFE}`]: 1 },
    }),
  },
  {
    name: 'serverTracing',
    async setup() {
      const otel = setupOtel();
      const server = await startMatrix({
        serverInterceptors: [serverTracing({ tracerProvider: otel.provider })],
      });
      return { server, run: { measure: () => spanCounts(otel.spans()) } };
    },
    // OpenTelemetry's RPC conventions: a server span is an error for UNKNOWN, DEADLINE_EXCEEDED,
    // UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS only; a cancel is not the server's fault.
    expected: expected({
      ok: byShape((s) => ({ attempts: 1, [`span SERVER ${METHOD[s]} UNSET 0`]: 1 })),
      error: byShape((s) => ({ attempts: 1, [`span SERVER ${METHOD[s]} ERROR 14`]: 1 })),
      cancel: byShape((s) => ({ attempts: 1, [`span SERVER ${METHOD[s]} UNSET 1`]: 1 })),
      deadline: byShape((s) => ({ attempts: 1, [`span SERVER ${METHOD[s]} ERROR 4`]: 1 })),
    }),
  },
  {
    name: 'serverMetrics',
    async setup() {
      const registry = new Registry();
      const server = await startMatrix({ serverInterceptors: [serverMetrics({ registry })] });
      const measure = () =>
        promCounts(registry, {
          grpc_server_started_total: 'started',
          grpc_server_handled_total: 'handled',
          grpc_server_handling_seconds_count: 'timed',
          grpc_server_msg_received_total: 'received',
          grpc_server_msg_sent_total: 'sent',
          weft_server_in_flight_calls: 'in flight',
        });
      return { server, run: { measure } };
    },
    // Messages as the handler read and wrote them: a bidi handler that never reads (cancel,
    // deadline) receives nothing; one that fails sends nothing.
    expected: expected({
      ok: byShape((s) =>
        goMetrics('server', s, 'OK', REQUESTS[s], s === 'unary' || s === 'client_stream' ? 1 : 2),
      ),
      error: byShape((s) => goMetrics('server', s, 'Unavailable', REQUESTS[s], 0)),
      cancel: byShape((s) => goMetrics('server', s, 'Canceled', s === 'bidi_stream' ? 0 : 1, 0)),
      deadline: byShape((s) => goMetrics('server', s, 'DeadlineExceeded', s === 'bidi_stream' ? 0 : 1, 0)),
    }),
  },
  {
    name: 'grpcOtelServerMetrics (gRFC A66)',
    async setup() {
      const meters = testMeters();
      const server = await startMatrix({
        serverInterceptors: [
          grpcOtelServerMetrics({
            meterProvider: meters.meterProvider,
            services: [testProto().weft.test.TestService.service],
          }),
        ],
      });
      const measure = () => otelCounts(() => meters.collect());
      return { server, run: { measure } };
    },
    // Sizes: what the server sends is what grpc-js writes (a response `ok` with index 0: 6 bytes;
    // 1: 6 more); what it receives is the decoded request encoded again, and proto-loader's
    // `defaults: true` fills in four absent fields (+8 bytes: `ok` counts 12), as the README says.
    // A bidi handler that never reads (cancel, deadline) lets no request reach the interceptor.
    expected: expected({
      ok: byShape((s) => a66(s, 'OK', ...OK_SIZES[s])),
      error: byShape((s) => a66(s, 'UNAVAILABLE', 0, s === 'unary' || s === 'server_stream' ? 15 : 30)),
      cancel: byShape((s) => a66(s, 'CANCELLED', 0, s === 'bidi_stream' ? 0 : 16)),
      deadline: byShape((s) => a66(s, 'DEADLINE_EXCEEDED', 0, s === 'bidi_stream' ? 0 : 18)),
    }),
  },
  {
    name: 'serverDeadline (default 60 s)',
    async setup() {
      const server = await startMatrix({
        serverInterceptors: [serverDeadline({ default: 60_000 })],
        seen: (call, note) => {
          note(deadlineFact(call.getDeadline()));
          const signal = getCallContext()?.signal;
          signal?.addEventListener('abort', () => note(`aborted ${(signal.reason as Error).name}`));
        },
      });
      return { server, run: { measure: () => ({}) } };
    },
    expected: expected({
      ok: { attempts: 1, 'deadline 60 s': 1 },
      error: { attempts: 1, 'deadline 60 s': 1 },
      cancel: { attempts: 1, 'deadline 60 s': 1, 'aborted CallCancelledError': 1 },
      // grpc-js ends a call at the caller's deadline by cancelling it: serverDeadline aborts with
      // DeadlineExceededError only at a deadline it imposed itself.
      deadline: { attempts: 1, 'deadline the caller’s': 1, 'aborted CallCancelledError': 1 },
    }),
  },
  {
    name: 'rateLimit (room to spare)',
    async setup() {
      const memory = memoryStore();
      let taken = 0;
      const store: RateLimitStore = {
        take(key, rate, burst) {
          taken++;
          return memory.take(key, rate, burst);
        },
      };
      const server = await startMatrix({
        serverInterceptors: [rateLimit({ rules: [{ name: 'matrix', rate: 0.001, burst: 1000, store }] })],
      });
      return { server, run: { measure: () => ({ 'tokens taken': taken }) } };
    },
    expected: expected({
      ok: { attempts: 1, 'tokens taken': 1 },
      error: { attempts: 1, 'tokens taken': 1 },
      cancel: { attempts: 1, 'tokens taken': 1 },
      deadline: { attempts: 1, 'tokens taken': 1 },
    }),
  },
  {
    name: 'concurrencyLimit (max 1: the slot comes back)',
    async setup() {
      let rejections = 0;
      const onRejection = () => void rejections++;
      signals.limitRejection.subscribe(onRejection);
      const server = await startMatrix({
        serverInterceptors: [concurrencyLimit({ max: 1, key: 'global' })],
      });
      // The next call is admitted only if the cell's call gave its slot back.
      const after = async () => ({
        [`next call ${await server.call('unary', 'ok', { awaitServer: true })}`]: 1,
      });
      return {
        server,
        run: { measure: () => ({ rejections }), after },
        cleanup: () => signals.limitRejection.unsubscribe(onRejection),
      };
    },
    expected: expected({
      ok: { attempts: 1, 'next call OK OK': 1 },
      error: { attempts: 1, 'next call OK OK': 1 },
      cancel: { attempts: 1, 'next call OK OK': 1 },
      deadline: { attempts: 1, 'next call OK OK': 1 },
    }),
  },
  {
    name: 'adaptiveConcurrency',
    async setup() {
      let state: AdaptiveConcurrencyState | undefined;
      const onState = (s: AdaptiveConcurrencyState) => {
        if (s.name === 'matrix') state = s;
      };
      signals.adaptiveConcurrency.subscribe(onState);
      const limiter = adaptiveConcurrency({ name: 'matrix' });
      const server = await startMatrix({
        serverInterceptors: [limiter],
        seen: (_call, note) => note(`in flight ${state?.inFlight}`),
      });
      return {
        server,
        run: { measure: () => ({ 'in flight after': state?.inFlight ?? Number.NaN }) },
        cleanup: () => signals.adaptiveConcurrency.unsubscribe(onState),
      };
    },
    expected: expected({
      ok: { attempts: 1, 'in flight 1': 1 },
      error: { attempts: 1, 'in flight 1': 1 },
      cancel: { attempts: 1, 'in flight 1': 1 },
      deadline: { attempts: 1, 'in flight 1': 1 },
    }),
  },
  // Rejections: the interceptor answers every call itself, so the handler never runs and a
  // `cancel` cell has nothing to cancel: every outcome sees the same refusal.
  {
    name: 'jwtAuth (no token: refused)',
    async setup() {
      const failures: Effect = {};
      const onFailure = (f: AuthFailure) => count(failures, `authFailure ${f.method.method} ${f.reason}`);
      signals.authFailure.subscribe(onFailure);
      const server = await startMatrix({
        serverInterceptors: [jwtAuth({ keys: { secret: SECRET }, algorithms: ['HS256'] })],
      });
      return {
        server,
        run: { measure: () => ({ ...failures }), cell: () => ({ reachesHandler: false }) },
        cleanup: () => signals.authFailure.unsubscribe(onFailure),
      };
    },
    expected: refused(
      (s) => ({ [`authFailure ${METHOD[s]} missing`]: 1 }),
      'UNAUTHENTICATED missing bearer token in "authorization" metadata',
    ),
  },
  {
    name: 'rateLimit (out of tokens: refused)',
    async setup() {
      const rejections: Effect = {};
      const onRejection = (r: LimitRejection) =>
        count(rejections, `limitRejection ${r.method.method} ${r.rule}`);
      signals.limitRejection.subscribe(onRejection);
      const server = await startMatrix({
        // A store on a stopped clock: the bucket never refills, so the wait it tells is exact.
        serverInterceptors: [
          rateLimit({
            rules: [{ name: 'matrix', rate: 0.001, burst: 1, store: memoryStore({ now: () => 0 }) }],
          }),
        ],
      });
      await server.call('unary', 'ok', { awaitServer: true }); // takes the only token
      return {
        server,
        run: { measure: () => ({ ...rejections }), cell: () => ({ reachesHandler: false }) },
        cleanup: () => signals.limitRejection.unsubscribe(onRejection),
      };
    },
    expected: refused(
      (s) => ({ [`limitRejection ${METHOD[s]} matrix`]: 1 }),
      'RESOURCE_EXHAUSTED rate limit "matrix" exceeded; retry in 1000000 ms',
    ),
  },
  {
    name: 'concurrencyLimit (its one slot taken: refused)',
    async setup() {
      const rejections: Effect = {};
      const onRejection = (r: LimitRejection) =>
        count(rejections, `limitRejection ${r.method.method} ${r.rule}`);
      signals.limitRejection.subscribe(onRejection);
      const server = await startMatrix({ serverInterceptors: [concurrencyLimit({ max: 1, key: 'global' })] });
      const release = await server.hold();
      return {
        server,
        run: { measure: () => ({ ...rejections }), cell: () => ({ reachesHandler: false }) },
        cleanup: () => {
          release();
          signals.limitRejection.unsubscribe(onRejection);
        },
      };
    },
    expected: refused(
      (s) => ({ [`limitRejection ${METHOD[s]} concurrency`]: 1 }),
      'RESOURCE_EXHAUSTED concurrency limit "concurrency" reached (1 in flight)',
    ),
  },
];

describe('server interceptors: shape × outcome', () => {
  it.each(rows.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    const { server, run, cleanup } = await row.setup();
    try {
      const cells = await runMatrix(server, {
        ...run,
        cell: async (...a) => ({ ...(await run.cell?.(...a)), awaitServer: true }),
      });
      if (process.env.MATRIX_DEBUG) console.log(row.name, JSON.stringify(cells));
      expectCells(cells, row.expected);
    } finally {
      cleanup?.();
      await server.close();
    }
  });
});
