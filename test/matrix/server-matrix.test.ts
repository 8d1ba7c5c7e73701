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
import { SpanStatusCode } from '@opentelemetry/api';
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
  type Logger,
  type LogLevel,
  recovery,
  serverLogging,
  signals,
} from '@weft/core';
import { grpcOtelServerMetrics, serverMetrics } from '@weft/metrics';
import {
  adaptiveConcurrency,
  concurrencyLimit,
  deadlineMs,
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
  singleRequest,
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

/** The deadline a handler sees, by what set it: none, the caller's (`DEADLINE_MS`), or a default. */
function deadlineFact(deadline: grpc.Deadline): string {
  const left = deadlineMs(deadline) - Date.now();
  if (!Number.isFinite(left)) return 'deadline none';
  if (left <= DEADLINE_MS) return 'deadline the caller’s';
  return `deadline ${Math.round(left / 1000)} s`;
}

/** prom-client's samples of a family, by label values (`grpc_code` or none), summed. */
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

/** One call's gRFC A66 server instruments: started, duration and the two sizes (count, bytes). */
function a66(status: string, sentBytes: number, rcvdBytes: number): Effect {
  const effect: Effect = {
    attempts: 1,
    'grpc.server.call.started': 1,
    [`grpc.server.call.duration ${status}`]: 1,
  };
  for (const [name, bytes] of [
    ['sent', sentBytes],
    ['rcvd', rcvdBytes],
  ] as const) {
    const key = `grpc.server.call.${name}_total_compressed_message_size ${status}`;
    effect[key] = 1;
    if (bytes > 0) effect[`${key} bytes`] = bytes;
  }
  return effect;
}

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
      const effect: Effect = {};
      const line = (level: LogLevel) => (fields: Record<string, unknown>, message: string) =>
        count(effect, `${level} ${message} ${fields['grpc.code']}`);
      const logger: Logger = {
        debug: line('debug'),
        info: line('info'),
        warn: line('warn'),
        error: line('error'),
      };
      const server = await startMatrix({ serverInterceptors: [serverLogging({ logger })] });
      return { server, run: { measure: () => ({ ...effect }) } };
    },
    expected: expected({
      ok: { attempts: 1, 'info finished call OK': 1 },
      error: { attempts: 1, 'warn finished call Unavailable': 1 },
      cancel: { attempts: 1, 'info finished call Canceled': 1 },
      deadline: { attempts: 1, 'warn finished call DeadlineExceeded': 1 },
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
      const measure = () => {
        const effect: Effect = {};
        for (const span of otel.spans()) {
          const code = span.attributes['rpc.grpc.status_code'];
          count(effect, `span ${SpanStatusCode[span.status.code]} ${code}`);
        }
        return effect;
      };
      return { server, run: { measure } };
    },
    // OpenTelemetry's RPC conventions: a server span is an error for UNKNOWN, DEADLINE_EXCEEDED,
    // UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS only; a cancel is not the server's fault.
    expected: expected({
      ok: { attempts: 1, 'span UNSET 0': 1 },
      error: { attempts: 1, 'span ERROR 14': 1 },
      cancel: { attempts: 1, 'span UNSET 1': 1 },
      deadline: { attempts: 1, 'span ERROR 4': 1 },
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
          weft_server_in_flight_calls: 'in flight',
        });
      return { server, run: { measure } };
    },
    expected: expected({
      ok: { attempts: 1, started: 1, 'handled OK': 1, timed: 1 },
      error: { attempts: 1, started: 1, 'handled Unavailable': 1, timed: 1 },
      cancel: { attempts: 1, started: 1, 'handled Canceled': 1, timed: 1 },
      deadline: { attempts: 1, started: 1, 'handled DeadlineExceeded': 1, timed: 1 },
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
              // Message sizes in bytes, as the serializers of `services` measure them.
              if (name.endsWith('_size')) count(effect, `${key} bytes`, value.sum);
            }
          }
        }
        return effect;
      };
      return { server, run: { measure } };
    },
    // Sizes: what the server sends is what grpc-js writes (a response `ok` with index 0: 6 bytes;
    // 1: 6 more); what it receives is the decoded request encoded again, and proto-loader's
    // `defaults: true` fills in four absent fields (+8 bytes: `ok` counts 12), as the README says.
    // A bidi handler that never reads (cancel, deadline) lets no request reach the interceptor.
    expected: expected({
      ok: perShape({
        unary: a66('OK', 6, 12),
        client_stream: a66('OK', 6, 24),
        server_stream: a66('OK', 12, 12),
        bidi_stream: a66('OK', 12, 24),
      }),
      error: singleRequest(a66('UNAVAILABLE', 0, 15), a66('UNAVAILABLE', 0, 30)),
      cancel: perShape({
        unary: a66('CANCELLED', 0, 16),
        client_stream: a66('CANCELLED', 0, 16),
        server_stream: a66('CANCELLED', 0, 16),
        bidi_stream: a66('CANCELLED', 0, 0),
      }),
      deadline: perShape({
        unary: a66('DEADLINE_EXCEEDED', 0, 18),
        client_stream: a66('DEADLINE_EXCEEDED', 0, 18),
        server_stream: a66('DEADLINE_EXCEEDED', 0, 18),
        bidi_stream: a66('DEADLINE_EXCEEDED', 0, 0),
      }),
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
