import { status } from '@grpc/grpc-js';
import { type CallContext, getCallContext } from './call-context';
import { MethodCache } from './method-cache';
import type { MethodInfo } from './method-info';
import {
  type CallReporter,
  type FinishedStatus,
  type ObservedClientCall,
  type ObservedServerCall,
  type ObservingClientInterceptor,
  type ObservingServerInterceptor,
  observeClient,
  observeServer,
} from './observer';
import { check, resolveOptions } from './options';
import { codeName } from './status';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The shape of a pino (or pino-compatible) logger: `logger.info({ fields }, 'message')`. */
export type Logger = Record<LogLevel, (fields: Record<string, unknown>, message: string) => void>;

export interface LoggingOptions {
  /** Where lines go. Required: weft never picks a logger for you. */
  logger: Logger;
  /** Level of the "finished call" line by status code. Defaults: `serverCodeToLevel` / `clientCodeToLevel`. */
  codeToLevel?: (code: status) => LogLevel;
  /** Also log a `started call` line at debug level. Default `false`. */
  logStart?: boolean;
  /**
   * Log each message's content at debug level (`grpc.request.content` / `grpc.response.content`).
   * Default `false`: payloads often hold personal data.
   */
  logPayloads?: boolean;
}

/** A code-to-level function from the codes of each level and the level of every other code. */
function levelsOf(levels: Partial<Record<LogLevel, readonly status[]>>, otherwise: LogLevel) {
  const table = new Map<status, LogLevel>();
  for (const [level, codes] of Object.entries(levels) as [LogLevel, readonly status[]][]) {
    for (const code of codes) table.set(code, level);
  }
  return (code: status): LogLevel => table.get(code) ?? otherwise;
}

const S = status;

/**
 * go-grpc-middleware v2's `DefaultServerCodeToLevel`: caller mistakes and success info, overload
 * and refusals warn, bugs error. (`test/logging.test.ts` checks all 17 codes against Go's source.)
 */
export const serverCodeToLevel: (code: status) => LogLevel = levelsOf(
  {
    info: [S.OK, S.CANCELLED, S.INVALID_ARGUMENT, S.NOT_FOUND, S.ALREADY_EXISTS, S.UNAUTHENTICATED],
    warn: [
      S.DEADLINE_EXCEEDED,
      S.PERMISSION_DENIED,
      S.RESOURCE_EXHAUSTED,
      S.FAILED_PRECONDITION,
      S.ABORTED,
      S.OUT_OF_RANGE,
      S.UNAVAILABLE,
    ],
  },
  'error',
);

/**
 * go-grpc-middleware v2's `DefaultClientCodeToLevel`, one step quieter than the server: success
 * and answers that are the caller's business (invalid argument, not found, exhausted, aborted...)
 * debug; unimplemented, internal, unavailable and data loss warn; the rest (unknown, deadline
 * exceeded, auth refusals, codes outside the 17) info. (`test/logging.test.ts` checks all 17 codes
 * against Go's source.)
 */
export const clientCodeToLevel: (code: status) => LogLevel = levelsOf(
  {
    debug: [
      S.OK,
      S.CANCELLED,
      S.INVALID_ARGUMENT,
      S.NOT_FOUND,
      S.ALREADY_EXISTS,
      S.RESOURCE_EXHAUSTED,
      S.FAILED_PRECONDITION,
      S.ABORTED,
      S.OUT_OF_RANGE,
    ],
    warn: [S.UNIMPLEMENTED, S.INTERNAL, S.UNAVAILABLE, S.DATA_LOSS],
  },
  'info',
);

type Fields = Readonly<Record<string, unknown>>;

/** The method's own fields, built once per side and method (every line of its calls starts with them). */
function methodFields(component: 'server' | 'client', method: MethodInfo): Fields {
  return Object.freeze({
    'grpc.component': component,
    'grpc.service': method.service,
    'grpc.method': method.method,
    'grpc.method_type': method.type,
  });
}

/** `serverLogging()`'s defaults (`clientLogging()`'s differ in `codeToLevel` only). `logger` is required. */
export const SERVER_LOGGING_DEFAULTS: Readonly<LoggingOptions> = Object.freeze({
  logger: undefined as unknown as Logger,
  /** go-grpc-middleware's server levels. */
  codeToLevel: serverCodeToLevel,
  /** Only the "finished call" line. */
  logStart: false,
  /** Payloads often hold personal data. */
  logPayloads: false,
});

/** `clientLogging()`'s defaults. */
export const CLIENT_LOGGING_DEFAULTS: Readonly<LoggingOptions> = Object.freeze({
  ...SERVER_LOGGING_DEFAULTS,
  /** go-grpc-middleware's client levels, one step quieter. */
  codeToLevel: clientCodeToLevel,
});

const isLogger = (logger: Logger | undefined) =>
  logger !== undefined &&
  logger !== null &&
  (['debug', 'info', 'warn', 'error'] as const).every((level) => typeof logger[level] === 'function')
    ? undefined
    : 'must be a logger with debug, info, warn and error methods';

/** Resolves and checks logging options at setup; the reporters read them without re-checking. */
function resolveLogging(
  name: 'serverLogging' | 'clientLogging',
  defaults: Readonly<LoggingOptions>,
  options: LoggingOptions,
): ResolvedLogging {
  return resolveOptions(name, defaults, options, {
    logger: isLogger,
    codeToLevel: check.function,
    logStart: check.boolean,
    logPayloads: check.boolean,
  }) as ResolvedLogging;
}

type ResolvedLogging = Readonly<Required<LoggingOptions>>;

/**
 * One call's logging. Lines are built only when written: the method's cached fields, the peer (server
 * side), and the fields other interceptors put on `context` (trace ids, subject) by then.
 */
class LoggingReporter implements CallReporter {
  /** Read when the call starts: once the connection is gone, grpc-js no longer knows the peer. */
  private readonly peer: string | undefined;
  constructor(
    private readonly options: ResolvedLogging,
    private readonly method: Fields,
    /** The server call's context (server), or the server call the client call is made in (client). */
    private readonly context: CallContext | undefined,
    withPeer: boolean,
  ) {
    this.peer = withPeer ? context?.peer : undefined;
  }

  protected fields(): Record<string, unknown> {
    const fields: Record<string, unknown> = { ...this.method, ...this.context?.logFields };
    if (this.peer !== undefined) fields['peer.address'] = this.peer;
    return fields;
  }

  onFinish(finished: FinishedStatus, seconds: number): void {
    const fields = this.fields();
    fields['grpc.code'] = codeName(finished.code);
    fields['grpc.time_ms'] = Math.round(seconds * 1e6) / 1e3;
    if (finished.code !== status.OK) fields['grpc.error'] = finished.details;
    this.options.logger[this.options.codeToLevel(finished.code)](fields, 'finished call');
  }

  protected payload(key: string, content: unknown): void {
    const fields = this.fields();
    fields[key] = content;
    this.options.logger.debug(fields, 'payload');
  }

  logStart(): void {
    this.options.logger.debug(this.fields(), 'started call');
  }
}

/** Adds one debug line per message; a separate class so calls without payload logging skip the hooks. */
class PayloadLoggingReporter extends LoggingReporter {
  inboundKey = 'grpc.request.content';
  outboundKey = 'grpc.response.content';
  onReceiveMessage(message: unknown): void {
    this.payload(this.inboundKey, message);
  }
  onSendMessage(message: unknown): void {
    this.payload(this.outboundKey, message);
  }
}

function makeReporter(
  options: ResolvedLogging,
  side: 'server' | 'client',
  fields: Fields,
  context: CallContext | undefined,
): CallReporter {
  const withPeer = side === 'server';
  if (!options.logPayloads) {
    const reporter = new LoggingReporter(options, fields, context, withPeer);
    if (options.logStart) reporter.logStart();
    return reporter;
  }
  const reporter = new PayloadLoggingReporter(options, fields, context, withPeer);
  if (side === 'client') {
    // A client sends the request and receives the response.
    reporter.inboundKey = 'grpc.response.content';
    reporter.outboundKey = 'grpc.request.content';
  }
  if (options.logStart) reporter.logStart();
  return reporter;
}

/**
 * Server logging: one line per finished call with service, method, type, code, duration, peer and
 * the fields other interceptors added (trace ids, subject). No payloads unless `logPayloads`.
 */
export function serverLogging(options: LoggingOptions): ObservingServerInterceptor {
  const resolved = resolveLogging('serverLogging', SERVER_LOGGING_DEFAULTS, options);
  const fields = new MethodCache((method) => methodFields('server', method));
  return observeServer({
    start: (call: ObservedServerCall) =>
      makeReporter(resolved, 'server', fields.get(call.method), call.context),
  });
}

/** Client logging: the caller's view of the same line; carries the fields of the server call it runs in, if any. */
export function clientLogging(options: LoggingOptions): ObservingClientInterceptor {
  const resolved = resolveLogging('clientLogging', CLIENT_LOGGING_DEFAULTS, options);
  const fields = new MethodCache((method) => methodFields('client', method));
  return observeClient({
    start: (call: ObservedClientCall) =>
      makeReporter(resolved, 'client', fields.get(call.method), getCallContext()),
  });
}
