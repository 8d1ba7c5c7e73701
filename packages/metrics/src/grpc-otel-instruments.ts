/**
 * The instruments of gRFC A66 (per-call metrics) and A96 (retry metrics), with names, units,
 * descriptions and bucket boundaries copied from the gRFC texts (grpc/proposal
 * A66-otel-stats.md, A96-retry-otel-stats.md). test/grpc-otel-metrics.test.ts holds its own copy
 * of the gRFC tables and compares.
 */

/** A66 latency buckets, seconds. */
export const GRPC_LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01,
  0.013, 0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65,
  0.8, 1, 2, 5, 10, 20, 50, 100,
]);

/** A66 size buckets, bytes. */
export const GRPC_SIZE_BUCKETS: readonly number[] = Object.freeze([
  0, 1024, 2048, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864, 268435456, 1073741824,
  4294967296,
]);

export interface InstrumentSpec {
  readonly name: string;
  readonly kind: 'counter' | 'histogram';
  readonly unit: string;
  readonly description: string;
  readonly buckets?: readonly number[];
}

const spec = (
  name: string,
  kind: InstrumentSpec['kind'],
  unit: string,
  description: string,
  buckets?: readonly number[],
): InstrumentSpec =>
  Object.freeze(
    buckets === undefined ? { name, kind, unit, description } : { name, kind, unit, description, buckets },
  );

const SENT = (per: string, what: string) =>
  `Total bytes (compressed but not encrypted) sent across all ${what} messages (metadata excluded) per ${per}; does not include grpc or transport framing bytes.`;
const RCVD = (per: string, what: string) =>
  `Total bytes (compressed but not encrypted) received across all ${what} messages (metadata excluded) per ${per}; does not include grpc or transport framing bytes.`;

export const SERVER_INSTRUMENTS = Object.freeze({
  started: spec(
    'grpc.server.call.started',
    'counter',
    '{call}',
    'The total number of RPCs started, including those that have not completed.',
  ),
  sent: spec(
    'grpc.server.call.sent_total_compressed_message_size',
    'histogram',
    'By',
    SENT('RPC', 'response'),
    GRPC_SIZE_BUCKETS,
  ),
  rcvd: spec(
    'grpc.server.call.rcvd_total_compressed_message_size',
    'histogram',
    'By',
    RCVD('RPC', 'request'),
    GRPC_SIZE_BUCKETS,
  ),
  duration: spec(
    'grpc.server.call.duration',
    'histogram',
    's',
    'This metric aims to measure the end2end time an RPC takes from the server transport’s (HTTP2/ inproc) perspective.',
    GRPC_LATENCY_BUCKETS,
  ),
});

export const CLIENT_INSTRUMENTS = Object.freeze({
  attemptStarted: spec(
    'grpc.client.attempt.started',
    'counter',
    '{attempt}',
    'The total number of RPC attempts started, including those that have not completed.',
  ),
  attemptDuration: spec(
    'grpc.client.attempt.duration',
    'histogram',
    's',
    'End-to-end time taken to complete an RPC attempt including the time it takes to pick a subchannel.',
    GRPC_LATENCY_BUCKETS,
  ),
  attemptSent: spec(
    'grpc.client.attempt.sent_total_compressed_message_size',
    'histogram',
    'By',
    SENT('RPC attempt', 'request'),
    GRPC_SIZE_BUCKETS,
  ),
  attemptRcvd: spec(
    'grpc.client.attempt.rcvd_total_compressed_message_size',
    'histogram',
    'By',
    RCVD('RPC attempt', 'response'),
    GRPC_SIZE_BUCKETS,
  ),
  callDuration: spec(
    'grpc.client.call.duration',
    'histogram',
    's',
    'This metric aims to measure the end-to-end time the gRPC library takes to complete an RPC from the application’s perspective.',
    GRPC_LATENCY_BUCKETS,
  ),
});

/** gRFC A96, off by default (experimental in gRPC). */
export const RETRY_INSTRUMENTS = Object.freeze({
  retries: spec(
    'grpc.client.call.retries',
    'histogram',
    '{retry}',
    'Number of retries during the client call. If there were no retries, 0 is not reported.',
    [1, 2, 3, 4, 5],
  ),
  transparentRetries: spec(
    'grpc.client.call.transparent_retries',
    'histogram',
    '{transparent_retry}',
    'Number of transparent retries during the client call. If there were no transparent retries, 0 is not reported.',
    [1, 2, 3, 4, 5, 10],
  ),
  hedges: spec(
    'grpc.client.call.hedges',
    'histogram',
    '{hedge}',
    'Number of hedges during the client call. If there were no hedges, 0 is not reported.',
    [1, 2, 3, 4, 5],
  ),
  retryDelay: spec(
    'grpc.client.call.retry_delay',
    'histogram',
    's',
    'Total time of delay while there is no active attempt during the client call.',
    GRPC_LATENCY_BUCKETS,
  ),
});

/** Attribute keys (A66, A108). */
export const GRPC_METHOD = 'grpc.method';
export const GRPC_STATUS = 'grpc.status';
export const GRPC_TARGET = 'grpc.target';
export const GRPC_CUSTOM = 'grpc.client.call.custom';

/** `grpc.status` values: the canonical code names, as gRPC core spells them. */
export const GRPC_STATUS_NAMES: readonly string[] = Object.freeze([
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
]);
