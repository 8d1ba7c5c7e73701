/**
 * The PromQL behind every panel, in one place: the dashboards use them, and the end-to-end test
 * runs each one (with the variables filled in) against a real Prometheus.
 */

/** Dashboard variables every query filters on. */
export const SERVER_FILTER =
  'job=~"$job", instance=~"$instance", grpc_service=~"$service", grpc_method=~"$method"';
export const CLIENT_FILTER = 'job=~"$job", grpc_service=~"$service", grpc_method=~"$method"';
export const JOB_FILTER = 'job=~"$job"';
/** SERVER_FILTER without the instance: every replica, the whole a replica's share is taken of. */
export const ALL_REPLICAS_FILTER = 'job=~"$job", grpc_service=~"$service", grpc_method=~"$method"';
/** The load report gauges (`loadReportGauges()`) have no gRPC labels: one series per process. */
export const LOAD_FILTER = 'job=~"$job", instance=~"$instance"';

/** Codes that are the server's fault (OpenTelemetry's server span error codes). */
export const SERVER_ERROR_CODES = 'Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss';

/** Recording rule names (prometheus/rules/recording.yml), level:metric:operations. */
export const RECORDED = {
  serverHandledRate: 'grpc_method_code:grpc_server_handled:rate1m',
  serverLatencyBuckets: 'grpc_method_le:grpc_server_handling_seconds_bucket:rate1m',
  serverErrorRatio: 'grpc_method:grpc_server_error_ratio:rate1m',
  clientHandledRate: 'grpc_method_code:grpc_client_handled:rate1m',
  clientLatencyBuckets: 'grpc_method_le:grpc_client_handling_seconds_bucket:rate1m',
  authFailureRate: 'job_reason:weft_auth_failures:rate1m',
} as const;

const quantile = (q: number, buckets: string, filter: string) =>
  `histogram_quantile(${q}, sum by (le, grpc_method) (${buckets}{${filter}}))`;

export function latencyQuantiles(buckets: string, filter: string): [string, string][] {
  return [
    ['p50 {{grpc_method}}', quantile(0.5, buckets, filter)],
    ['p90 {{grpc_method}}', quantile(0.9, buckets, filter)],
    ['p99 {{grpc_method}}', quantile(0.99, buckets, filter)],
  ];
}

/**
 * gRFC A66's instruments as `@opentelemetry/exporter-prometheus` renders them: dots become
 * underscores, no unit suffix, `_total` on counters (test/a66-prometheus.test.ts asserts the names).
 */
export const A66 = {
  serverStarted: 'grpc_server_call_started_total',
  serverDuration: 'grpc_server_call_duration',
  serverSent: 'grpc_server_call_sent_total_compressed_message_size',
  serverRcvd: 'grpc_server_call_rcvd_total_compressed_message_size',
  attemptStarted: 'grpc_client_attempt_started_total',
  attemptDuration: 'grpc_client_attempt_duration',
  attemptSent: 'grpc_client_attempt_sent_total_compressed_message_size',
  attemptRcvd: 'grpc_client_attempt_rcvd_total_compressed_message_size',
  callDuration: 'grpc_client_call_duration',
  /** gRFC A96, recorded only with `retryMetrics: true`. */
  callRetries: 'grpc_client_call_retries',
} as const;

/** The A66 dashboard's variables; the client side also filters on the channel target. */
export const A66_SERVER_FILTER = 'job=~"$job", instance=~"$instance", grpc_method=~"$method"';
export const A66_CLIENT_FILTER = `${A66_SERVER_FILTER}, grpc_target=~"$target"`;

/** SERVER_ERROR_CODES as A66 spells them (`grpc.status` is the code's canonical name). */
export const A66_SERVER_ERROR_CODES =
  'UNKNOWN|DEADLINE_EXCEEDED|UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS';
