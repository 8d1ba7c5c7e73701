import { Metadata, type StatusObject, type status } from '@grpc/grpc-js';

/**
 * Go-style status code names (`OK`, `NotFound`, `Unavailable`...), as go-grpc-prometheus puts them
 * in `grpc_code`, so dashboards and alerts written for Go services work unchanged.
 */
export const CODE_NAMES: readonly string[] = Object.freeze([
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
]);

/** Go-style name of a status code; codes outside the 17 defined ones map to `Unknown`. */
export function codeName(code: number): string {
  return CODE_NAMES[code] ?? 'Unknown';
}

/** A status on its way out of a server (grpc-js's `PartialStatusObject`, which it does not export). */
export interface PartialStatus {
  code: status;
  details: string;
  metadata?: Metadata | null;
}

/**
 * A status weft makes up itself (an INTERNAL answer, the CANCELLED an observer reports), frozen:
 * one object shared by every call, which nothing may change (tracing leaves frozen trailers alone).
 */
export function fixedStatus(code: status, details: string): Readonly<PartialStatus> {
  return Object.freeze({ code, details, metadata: null });
}

/** All codes, in order, for pre-initializing series and for table-driven tests. */
export const ALL_CODES: readonly status[] = Object.freeze(
  Array.from({ length: CODE_NAMES.length }, (_, i) => i as status),
);

/**
 * An error that carries a gRPC status. Handlers and interceptors throw or pass it; grpc-js reads
 * `code`, `details` and `metadata` from it, so it works as a `ServiceError` in callbacks.
 */
export class GrpcError extends Error implements Partial<StatusObject> {
  readonly code: status;
  readonly details: string;
  readonly metadata: Metadata;

  constructor(code: status, details: string, metadata?: Metadata) {
    super(`${code} ${codeName(code)}: ${details}`);
    this.name = 'GrpcError';
    this.code = code;
    this.details = details;
    this.metadata = metadata ?? new Metadata();
  }

  /** The status object to hand to `sendStatus` / `cancelWithStatus`. */
  toStatus(): StatusObject {
    return { code: this.code, details: this.details, metadata: this.metadata };
  }
}

/** Shorthand: `statusError(status.NOT_FOUND, 'user 42 not found')`. */
export function statusError(code: status, details: string, metadata?: Metadata): GrpcError {
  return new GrpcError(code, details, metadata);
}
