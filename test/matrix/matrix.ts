/**
 * The shape × outcome matrix: every interceptor runs over the four call shapes × four outcomes
 * (the handler answers, the handler fails, the client cancels, the deadline passes), and each cell
 * records the exact status the caller saw and what the interceptor did (its "effect": counts read
 * from its metrics, spans, log lines, signals... diffed around the one call of the cell).
 *
 * The handlers here are the matrix's own (not the harness defaults): the outcome travels in the
 * `x-outcome` request metadata, so every shape knows it when the handler starts; for `cancel` and
 * `deadline` the handler tells the test it is running (`arrived`) and then never answers, so the
 * cancel lands on a call the handler holds, and the deadline passes while it waits.
 *
 * A new interceptor gets a row in server-matrix.test.ts or client-matrix.test.ts: how to build it,
 * how to read its effect, one expected value per cell. `MATRIX_DEBUG=1` prints each row's table as
 * it ran (a start for a new row's expectations: check each cell before pinning it).
 */
import * as grpc from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { MetricData } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Logger, LogLevel } from '@weft/core';
import type { Registry } from 'prom-client';
import { expect } from 'vitest';
import type { EchoResponse__Output, Harness, HarnessOptions, TestServiceClient } from '../harness';
import { startHarness } from '../harness';

export const SHAPE_NAMES = ['unary', 'client_stream', 'server_stream', 'bidi_stream'] as const;
export type Shape = (typeof SHAPE_NAMES)[number];
export const OUTCOMES = ['ok', 'error', 'cancel', 'deadline'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** The deadline (ms) of `deadline` cells: the handler is reached long before it on a busy machine. */
export const DEADLINE_MS = 200;

/** Largest header delay (ms) under which a server still tells a passed deadline from a cancel. */
const DEADLINE_LAG_MS = 15;

/** Counts of what an interceptor did, by a key naming it (`'warn Unavailable'`, `'attempts'`). */
export type Effect = Record<string, number>;

/** What one cell saw: the caller's status as `CODE details`, and the interceptor's effect. */
export interface CellResult {
  status: string;
  effect: Effect;
}
export type Cells<T> = Record<Shape, Record<Outcome, T>>;

/** A value that differs by shape inside an outcome's column. */
class PerShape<T> {
  constructor(readonly values: Record<Shape, T>) {}
}
export const perShape = <T>(values: Record<Shape, T>): PerShape<T> => new PerShape(values);
/** A value made from the shape (e.g. keys naming the method). */
export const byShape = <T>(make: (shape: Shape) => T): PerShape<T> =>
  perShape(Object.fromEntries(SHAPE_NAMES.map((shape) => [shape, make(shape)])) as Record<Shape, T>);
/** The test service's method of each shape. */
export const METHOD: Record<Shape, string> = {
  unary: 'Unary',
  client_stream: 'ClientStream',
  server_stream: 'ServerStream',
  bidi_stream: 'Bidi',
};
/** Unary and server streaming (the shapes retry retries) get `a`, the client-streaming shapes `b`. */
export const singleRequest = <T>(a: T, b: T): PerShape<T> =>
  perShape({ unary: a, server_stream: a, client_stream: b, bidi_stream: b });

/** Requests an `ok` or `error` call writes: one, or two from the client-streaming shapes. */
export const REQUESTS: Record<Shape, number> = {
  unary: 1,
  server_stream: 1,
  client_stream: 2,
  bidi_stream: 2,
};

/**
 * One call's go-grpc-prometheus series on `side`: started, handled, timed, and the messages each
 * way (requests are "sent" on the client and "received" on the server; zero counts are absent).
 */
export function goMetrics(
  side: 'client' | 'server',
  shape: Shape,
  code: string,
  requests: number,
  responses: number,
): Effect {
  const series = `${METHOD[shape]} ${shape}`;
  const effect: Effect = {
    attempts: 1,
    [`started ${series}`]: 1,
    [`handled ${series} ${code}`]: 1,
    [`timed ${series}`]: 1,
  };
  const [requestKey, responseKey] = side === 'client' ? ['sent', 'received'] : ['received', 'sent'];
  if (requests > 0) effect[`${requestKey} ${series}`] = requests;
  if (responses > 0) effect[`${responseKey} ${series}`] = responses;
  return effect;
}

/** One expected value per (shape, outcome): per outcome, the same on every shape unless `perShape`. */
export function table<T>(columns: Record<Outcome, T | PerShape<T>>): Cells<T> {
  const cells = {} as Cells<T>;
  for (const shape of SHAPE_NAMES) {
    cells[shape] = {} as Record<Outcome, T>;
    for (const outcome of OUTCOMES) {
      const column = columns[outcome];
      cells[shape][outcome] = column instanceof PerShape ? (column.values[shape] as T) : column;
    }
  }
  return cells;
}

/** The status the caller sees per outcome when the interceptor leaves it alone. */
export const PLAIN_STATUS: Record<Outcome, string> = {
  ok: 'OK OK',
  error: 'UNAVAILABLE planned failure',
  cancel: 'CANCELLED Cancelled on client',
  deadline: 'DEADLINE_EXCEEDED Deadline exceeded',
};

const CODE = Object.fromEntries(Object.entries(grpc.status).map(([name, code]) => [code, name])) as Record<
  number,
  string
>;

/**
 * `CODE details`. grpc-js writes the elapsed time and the peer into its own deadline message
 * ("Deadline exceeded after 0.203s,LB pick: 0s,remote_addr=..."): only that tail is cut.
 */
export function statusText(status: { code: number; details: string }): string {
  const details = status.details.replace(/^(Deadline exceeded) after .*$/, '$1');
  return `${CODE[status.code] ?? status.code} ${details}`;
}

export function diff(before: Effect, after: Effect): Effect {
  const out: Effect = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const d = (after[key] ?? 0) - (before[key] ?? 0);
    if (d !== 0) out[key] = d;
  }
  return out;
}

export const count = (effect: Effect, key: string, by = 1): void => {
  effect[key] = (effect[key] ?? 0) + by;
};

/**
 * What the matrix handlers see, for rows whose effect shows in the handler (auth, deadlines):
 * called as each handler starts; `note` counts a fact, then or later (an abort listener).
 */
export type Seen = (
  call: { metadata: grpc.Metadata; getDeadline(): grpc.Deadline },
  note: (fact: string) => void,
) => void;

export interface MatrixServerOptions {
  serverInterceptors?: grpc.ServerInterceptor[];
  clientInterceptors?: grpc.Interceptor[];
  /** The handler's `error` outcome throws (rejects) instead of answering UNAVAILABLE. */
  throws?: boolean;
  /** Facts the handler records (counted) on every call, besides `attempts`. */
  seen?: Seen;
  serverCredentials?: grpc.ServerCredentials;
  clientCredentials?: grpc.ChannelCredentials;
}

export interface MatrixServer {
  readonly harness: Harness;
  /** Handler runs (`attempts`) and the row's `seen` facts, cumulative. */
  readonly facts: Effect;
  /**
   * Starts a unary call the handler holds until the returned function cancels it (a call that
   * keeps a slot taken); resolves once the handler holds it.
   */
  hold(): Promise<() => void>;
  /** Runs one cell through `client` (default: the harness client) and returns the caller's status. */
  call(shape: Shape, outcome: Outcome, options?: CellOptions): Promise<string>;
  /**
   * For the last `deadline` cell: how much later than the caller's deadline the server's was (ms),
   * i.e. how late the call's headers reached the server (grpc-timeout counts from their arrival).
   */
  readonly deadlineLag: number;
  close(): Promise<void>;
}

export interface CellOptions {
  client?: TestServiceClient;
  metadata?: grpc.Metadata;
  /** Wait until the server's interceptors are done with the call (server rows). Default false. */
  awaitServer?: boolean;
  /**
   * `false` for rows whose interceptor answers every call itself (a rejection): the handler never
   * runs, so a `cancel` cell has nothing to cancel and sees the rejection, as a `deadline` cell
   * does. Default true.
   */
  reachesHandler?: boolean;
}

type AnyCall = { metadata: grpc.Metadata; getDeadline(): grpc.Deadline };

/**
 * Notes when the layers inside it are done with a call: the status went out through it, or the
 * cancel (client gone, deadline passed) reached it. A plain grpc-js interceptor, so the probes do
 * not depend on weft's own call machinery.
 */
function probe(onDone: () => void): grpc.ServerInterceptor {
  return (_definition, call) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      onDone();
    };
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({ onCancel: finish });
      },
      sendStatus(status, next) {
        next(status);
        finish();
      },
    });
  };
}

/** A server with the matrix handlers and `options`' interceptors between two probes. */
export async function startMatrix(options: MatrixServerOptions = {}): Promise<MatrixServer> {
  const facts: Effect = {};
  const note = (fact: string) => count(facts, fact);
  let arrived: () => void = () => {};
  let outerDone = 0;
  let innerDone = 0;
  let onProbe: () => void = () => {};
  const outer = probe(() => {
    outerDone++;
    onProbe();
  });
  const inner = probe(() => {
    innerDone++;
    onProbe();
  });

  const planned = () =>
    Object.assign(new Error('planned failure'), {
      code: grpc.status.UNAVAILABLE,
      details: 'planned failure',
    });
  let deadlineSeen = Number.POSITIVE_INFINITY;
  const begin = (call: AnyCall): Outcome => {
    count(facts, 'attempts');
    const deadline = call.getDeadline();
    deadlineSeen = deadline instanceof Date ? deadline.getTime() : deadline;
    options.seen?.(call, note);
    const outcome = String(call.metadata.get('x-outcome')[0]) as Outcome;
    if (outcome === 'cancel' || outcome === 'deadline') arrived();
    return outcome;
  };
  // An async handler rejecting, as most real handlers would fail.
  const explode = async (): Promise<never> => {
    await Promise.resolve();
    throw new Error('secret: hunter2');
  };
  const response = (message: string, index = 0) => ({ message, index, context: {} });

  const handlers: HarnessOptions['handlers'] = {
    Unary(call, callback) {
      const outcome = begin(call as unknown as AnyCall);
      if (outcome === 'ok') callback(null, response('ok'));
      else if (outcome === 'error') {
        if (options.throws) return void explode();
        callback(planned());
      }
    },
    ServerStream(call) {
      const outcome = begin(call as unknown as AnyCall);
      if (outcome === 'ok') {
        call.write(response('ok', 0));
        call.write(response('ok', 1));
        call.end();
      } else if (outcome === 'error') {
        if (options.throws) return void explode();
        call.emit('error', planned());
      }
    },
    ClientStream(call, callback) {
      const outcome = begin(call as unknown as AnyCall);
      let received = 0;
      call.on('data', () => {
        received++;
      });
      if (outcome === 'ok') call.on('end', () => callback(null, response('ok', received)));
      else if (outcome === 'error') {
        if (options.throws) return void explode();
        call.on('end', () => callback(planned()));
      }
    },
    Bidi(call) {
      const outcome = begin(call as unknown as AnyCall);
      if (outcome === 'ok') {
        let index = 0;
        call.on('data', () => call.write(response('ok', index++)));
        call.on('end', () => call.end());
      } else if (outcome === 'error') {
        if (options.throws) return void explode();
        call.on('data', () => {}); // read to the end
        call.on('end', () => call.emit('error', planned()));
      }
    },
  };

  const harness = await startHarness({
    serverInterceptors: [outer, ...(options.serverInterceptors ?? []), inner],
    clientInterceptors: options.clientInterceptors,
    handlers,
    serverCredentials: options.serverCredentials,
    clientCredentials: options.clientCredentials,
  });

  const call = async (shape: Shape, outcome: Outcome, cell: CellOptions = {}): Promise<string> => {
    const client = cell.client ?? harness.client;
    const metadata = cell.metadata?.clone() ?? new grpc.Metadata();
    metadata.set('x-outcome', outcome);
    const deadline = Date.now() + DEADLINE_MS;
    const callOptions: grpc.CallOptions = outcome === 'deadline' ? { deadline } : {};
    deadlineSeen = Number.POSITIVE_INFINITY;
    const reaches = cell.reachesHandler !== false;
    const reached = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const outerTarget = outerDone + 1;
    const innerTarget = innerDone + 1;
    // Layers inside see a status last on its way out (outer probe), a cancel last on its way in.
    const serverDone = new Promise<void>((resolve) => {
      onProbe = () => {
        const inward = (outcome === 'cancel' || outcome === 'deadline') && reaches;
        if (outerDone >= outerTarget && (!inward || innerDone >= innerTarget)) resolve();
      };
    });
    const whole = outcome === 'ok' || outcome === 'error';
    const request = { message: outcome };
    const status = new Promise<grpc.StatusObject>((resolve) => {
      let started:
        | grpc.ClientUnaryCall
        | grpc.ClientReadableStream<unknown>
        | grpc.ClientWritableStream<unknown>;
      const done = (s: grpc.StatusObject) => setImmediate(() => resolve(s));
      const ignore = () => {};
      switch (shape) {
        case 'unary':
          started = client.Unary(request, metadata, callOptions, ignore);
          break;
        case 'server_stream': {
          const stream = client.ServerStream(request, metadata, callOptions);
          stream.on('data', ignore);
          stream.on('error', ignore);
          started = stream;
          break;
        }
        case 'client_stream': {
          const stream = client.ClientStream(metadata, callOptions, ignore);
          stream.write(request);
          if (whole) {
            stream.write(request);
            stream.end();
          }
          started = stream;
          break;
        }
        case 'bidi_stream': {
          const stream = client.Bidi(metadata, callOptions);
          stream.on('data', (_: EchoResponse__Output) => {});
          stream.on('error', ignore);
          stream.write(request);
          if (whole) {
            stream.write(request);
            stream.end();
          }
          started = stream;
          break;
        }
      }
      started.on('status', done);
      if (outcome === 'cancel' && reaches) void reached.then(() => started.cancel());
    });
    const received = await status;
    if (cell.awaitServer) await serverDone;
    onProbe = () => {};
    lag = outcome === 'deadline' && reaches ? deadlineSeen - deadline : 0;
    return statusText(received);
  };

  const hold = async () => {
    const held = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const metadata = new grpc.Metadata();
    metadata.set('x-outcome', 'deadline'); // held, never answered: no deadline is set here
    const pending = harness.client.Unary({}, metadata, () => {});
    await held;
    return () => pending.cancel();
  };

  let lag = 0;
  return {
    harness,
    facts,
    call,
    hold,
    get deadlineLag() {
      return lag;
    },
    close: () => harness.close(),
  };
}

export interface RunOptions {
  /**
   * The interceptor's cumulative effect; each cell's effect is the difference across its call,
   * beside the handler's facts (`attempts`, the row's `seen`).
   */
  measure: () => Effect | Promise<Effect>;
  /** Per-cell call options (a fresh client, metadata). */
  cell?: (shape: Shape, outcome: Outcome) => CellOptions | Promise<CellOptions>;
  /** Effects seen after the cell's call (e.g. whether a next call is admitted), added as they are. */
  after?: () => Effect | Promise<Effect>;
}

/** Runs every cell of a row, one call at a time. */
export async function runMatrix(server: MatrixServer, run: RunOptions): Promise<Cells<CellResult>> {
  const results = {} as Cells<CellResult>;
  for (const shape of SHAPE_NAMES) {
    results[shape] = {} as Record<Outcome, CellResult>;
    for (const outcome of OUTCOMES) {
      let status: string;
      let effect: Effect;
      for (let tries = 1; ; tries++) {
        const options = (await run.cell?.(shape, outcome)) ?? {};
        const before = { ...server.facts, ...(await run.measure()) };
        status = await server.call(shape, outcome, options);
        effect = diff(before, { ...server.facts, ...(await run.measure()) });
        // The client ends a call at its deadline by resetting the stream; the server tells that
        // from a cancel by its own deadline, counted from the headers' arrival. Headers held up
        // longer than weft's slack for this (25 ms) on a busy machine make the two
        // indistinguishable: such a cell is run again, as it says nothing about the interceptor.
        if (outcome !== 'deadline' || server.deadlineLag <= DEADLINE_LAG_MS || tries === 5) break;
      }
      for (const [key, n] of Object.entries((await run.after?.()) ?? {})) count(effect, key, n);
      results[shape][outcome] = { status, effect };
    }
  }
  return results;
}

/** The expected table: effects per outcome (see `table`), statuses plain unless overridden. */
export function expected(
  columns: Record<Outcome, Effect | PerShape<Effect>>,
  statuses: Partial<Record<Outcome, string | PerShape<string>>> = {},
): Cells<CellResult> {
  const effects = table<Effect>(columns);
  const status = table<string>({ ...PLAIN_STATUS, ...statuses });
  const cells = {} as Cells<CellResult>;
  for (const shape of SHAPE_NAMES) {
    cells[shape] = {} as Record<Outcome, CellResult>;
    for (const outcome of OUTCOMES)
      cells[shape][outcome] = { status: status[shape][outcome], effect: effects[shape][outcome] };
  }
  return cells;
}

/** Every cell refused with `status` (one, or per shape) before the call went on, `effect` naming the method. */
export function refused(
  effect: (shape: Shape) => Effect,
  status: string | ((shape: Shape) => string),
): Cells<CellResult> {
  const effects = byShape(effect);
  const statuses = typeof status === 'string' ? status : byShape(status);
  return expected(
    { ok: effects, error: effects, cancel: effects, deadline: effects },
    { ok: statuses, error: statuses, cancel: statuses, deadline: statuses },
  );
}

/** Compares the whole table at once, so a failure shows every cell that differs. */
export function expectCells(actual: Cells<CellResult>, wanted: Cells<CellResult>): void {
  expect(actual).toEqual(wanted);
}

// ---------------------------------------------------------------------------------------------
// Effect readers shared by the server and client rows.

const SERVICE_PREFIX = 'weft.test.TestService/';
const short = (method: unknown) => String(method).replace(SERVICE_PREFIX, '');

/** A logger counting each line as `level message method type code`. */
export function countingLogger(): { logger: Logger; effect: Effect } {
  const effect: Effect = {};
  const line = (level: LogLevel) => (fields: Record<string, unknown>, message: string) =>
    count(
      effect,
      `${level} ${message} ${fields['grpc.method']} ${fields['grpc.method_type']} ${fields['grpc.code']}`,
    );
  return {
    logger: { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') },
    effect,
  };
}

/** Finished spans counted as `span KIND Method STATUS rpc.grpc.status_code`. */
export function spanCounts(spans: readonly ReadableSpan[]): Effect {
  const effect: Effect = {};
  for (const span of spans) {
    const code = span.attributes['rpc.grpc.status_code'];
    count(
      effect,
      `span ${SpanKind[span.kind]} ${short(span.name)} ${SpanStatusCode[span.status.code]} ${code}`,
    );
  }
  return effect;
}

/**
 * prom-client samples of `families` (full name to short name; a histogram by its `_count`),
 * counted as `short Method grpc_type [grpc_code]`.
 */
export async function promCounts(registry: Registry, families: Record<string, string>): Promise<Effect> {
  const effect: Effect = {};
  for (const metric of await registry.getMetricsAsJSON()) {
    const name = families[metric.name] ?? families[`${metric.name}_count`];
    if (name === undefined) continue;
    const values = metric.values as {
      value: number;
      metricName?: string;
      labels: Record<string, string | number>;
    }[];
    for (const v of values) {
      if (v.metricName !== undefined && families[v.metricName] !== name) continue;
      const { grpc_method: method, grpc_type: type, grpc_code: code } = v.labels;
      count(effect, `${name} ${method} ${type}${code === undefined ? '' : ` ${code}`}`, v.value);
    }
  }
  return effect;
}

/**
 * OpenTelemetry metrics counted as `instrument Method [grpc.status]`: a counter's value, a
 * histogram's count, and for message sizes their bytes too (`... bytes`).
 */
export async function otelCounts(collect: () => Promise<Map<string, MetricData>>): Promise<Effect> {
  const effect: Effect = {};
  for (const [name, metric] of await collect()) {
    for (const p of metric.dataPoints) {
      const value = p.value as number | { count: number; sum: number };
      const status = p.attributes['grpc.status'];
      const key = `${name} ${short(p.attributes['grpc.method'])}${status === undefined ? '' : ` ${status}`}`;
      if (typeof value === 'number') count(effect, key, value);
      else {
        count(effect, key, value.count);
        if (name.endsWith('_size') && value.sum > 0) count(effect, `${key} bytes`, value.sum);
      }
    }
  }
  return effect;
}

/** The deadline a handler sees, by what set it: none, the caller's (`DEADLINE_MS`), or a default. */
export function deadlineFact(deadline: grpc.Deadline): string {
  const left = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
  if (!Number.isFinite(left)) return 'deadline none';
  if (left <= DEADLINE_MS) return 'deadline the caller’s';
  return `deadline ${Math.round(left / 1000)} s`;
}
