import { status } from '@grpc/grpc-js';
import { getCallContext, type LogFields } from './call-context';
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

/** go-grpc-middleware's DefaultServerCodeToLevel: caller mistakes are info, overload warn, bugs error. */
export function serverCodeToLevel(code: status): LogLevel {
  switch (code) {
    case status.OK:
    case status.CANCELLED:
    case status.INVALID_ARGUMENT:
    case status.NOT_FOUND:
    case status.ALREADY_EXISTS:
    case status.UNAUTHENTICATED:
      return 'info';
    case status.DEADLINE_EXCEEDED:
    case status.PERMISSION_DENIED:
    case status.RESOURCE_EXHAUSTED:
    case status.FAILED_PRECONDITION:
    case status.ABORTED:
    case status.OUT_OF_RANGE:
    case status.UNAVAILABLE:
      return 'warn';
    default:
      return 'error';
  }
}

/** go-grpc-middleware's DefaultClientCodeToLevel: success is debug, everything else info or warn. */
export function clientCodeToLevel(code: status): LogLevel {
  switch (code) {
    case status.OK:
      return 'debug';
    case status.UNKNOWN:
    case status.DEADLINE_EXCEEDED:
    case status.UNIMPLEMENTED:
    case status.INTERNAL:
    case status.UNAVAILABLE:
    case status.DATA_LOSS:
      return 'warn';
    default:
      return 'info';
  }
}

function callFields(component: 'server' | 'client', method: MethodInfo): Record<string, unknown> {
  return {
    'grpc.component': component,
    'grpc.service': method.service,
    'grpc.method': method.method,
    'grpc.method_type': method.type,
  };
}

type ResolvedLogging = Required<LoggingOptions>;

class LoggingReporter implements CallReporter {
  constructor(
    private readonly options: ResolvedLogging,
    private readonly base: Record<string, unknown>,
    private readonly extra: () => Readonly<LogFields> | undefined,
  ) {}

  onFinish(finished: FinishedStatus, seconds: number): void {
    const fields: Record<string, unknown> = {
      ...this.base,
      ...this.extra(),
      'grpc.code': codeName(finished.code),
      'grpc.time_ms': Math.round(seconds * 1e6) / 1e3,
    };
    if (finished.code !== status.OK) fields['grpc.error'] = finished.details;
    this.options.logger[this.options.codeToLevel(finished.code)](fields, 'finished call');
  }

  protected payload(key: string, content: unknown): void {
    this.options.logger.debug({ ...this.base, ...this.extra(), [key]: content }, 'payload');
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
  base: Record<string, unknown>,
  extra: () => Readonly<LogFields> | undefined,
): CallReporter {
  if (options.logStart) options.logger.debug({ ...base, ...extra() }, 'started call');
  if (!options.logPayloads) return new LoggingReporter(options, base, extra);
  const reporter = new PayloadLoggingReporter(options, base, extra);
  if (side === 'client') {
    // A client sends the request and receives the response.
    reporter.inboundKey = 'grpc.response.content';
    reporter.outboundKey = 'grpc.request.content';
  }
  return reporter;
}

/**
 * Server logging: one line per finished call with service, method, type, code, duration, peer and
 * the fields other interceptors added (trace ids, subject). No payloads unless `logPayloads`.
 */
export function serverLogging(options: LoggingOptions): ObservingServerInterceptor {
  const resolved: ResolvedLogging = {
    logStart: false,
    logPayloads: false,
    codeToLevel: serverCodeToLevel,
    ...options,
  };
  return observeServer({
    start(call: ObservedServerCall) {
      const base = { ...callFields('server', call.method), 'peer.address': call.context.peer };
      return makeReporter(resolved, 'server', base, () => call.context.logFields);
    },
  });
}

/** Client logging: the caller's view of the same line; carries the fields of the server call it runs in, if any. */
export function clientLogging(options: LoggingOptions): ObservingClientInterceptor {
  const resolved: ResolvedLogging = {
    logStart: false,
    logPayloads: false,
    codeToLevel: clientCodeToLevel,
    ...options,
  };
  return observeClient({
    start(call: ObservedClientCall) {
      const parent = getCallContext();
      return makeReporter(resolved, 'client', callFields('client', call.method), () => parent?.logFields);
    },
  });
}
