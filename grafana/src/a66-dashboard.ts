import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { base, datasourceVariable, heatmap, labelVariable, type Query, stat, timeseries } from './panels';
import { A66, A66_CLIENT_FILTER, A66_SERVER_ERROR_CODES, A66_SERVER_FILTER } from './queries';

const S = A66_SERVER_FILTER;
const C = A66_CLIENT_FILTER;
const rate = (series: string, filter: string) => `rate(${series}{${filter}}[$__rate_interval])`;

/** `q` quantile per method of an A66 latency histogram. */
const quantile = (q: number, histogram: string, filter: string) =>
  `histogram_quantile(${q}, sum by (le, grpc_method) (${rate(`${histogram}_bucket`, filter)}))`;

/** Mean bytes per call (or attempt) of an A66 size histogram, per method. */
const meanSize = (histogram: string, filter: string) =>
  `sum by (grpc_method) (${rate(`${histogram}_sum`, filter)}) / sum by (grpc_method) (${rate(`${histogram}_count`, filter)})`;

/** Both sides' A66 families, for the job and instance variables (either side may be scraped alone). */
const ANY_SIDE = `__name__=~"${A66.serverStarted}|${A66.attemptStarted}"`;
const ANY_DURATION = `__name__=~"${A66.serverDuration}_count|${A66.callDuration}_count"`;

/**
 * 5. gRPC's own OpenTelemetry instruments (gRFC A66, plus A96's retries) as
 * `@opentelemetry/exporter-prometheus` renders them (no unit suffixes): the names are A66's, the
 * same in every gRPC language, so only the exporter's rendering ties the queries to one setup.
 */
export function a66() {
  return base(
    'weft-grpc-a66',
    'weft / gRPC A66 (OpenTelemetry)',
    "gRPC's own OpenTelemetry metrics (gRFC A66): grpc.server.call.*, grpc.client.attempt.*, grpc.client.call.*, as rendered by the OpenTelemetry Prometheus exporter.",
  )
    .tags(['weft', 'grpc', 'a66', 'opentelemetry'])
    .withVariable(datasourceVariable())
    .withVariable(labelVariable('job', 'Job', '', 'job', ANY_SIDE))
    .withVariable(labelVariable('instance', 'Instance', '', 'instance', `${ANY_SIDE}, job=~"$job"`))
    .withVariable(
      labelVariable(
        'method',
        'Method',
        '',
        'grpc_method',
        `${ANY_DURATION}, job=~"$job", instance=~"$instance"`,
      ),
    )
    .withVariable(
      labelVariable(
        'target',
        'Target',
        `${A66.callDuration}_count`,
        'grpc_target',
        'job=~"$job", instance=~"$instance"',
      ),
    )
    .withRow(new RowBuilder('Overview'))
    .withPanel(
      stat(
        'Server calls / s',
        'reqps',
        `sum(${rate(`${A66.serverDuration}_count`, S)})`,
        'Calls finished per second (grpc.server.call.duration count).',
      ),
    )
    .withPanel(
      stat(
        'Server error ratio',
        'percentunit',
        `(sum(${rate(`${A66.serverDuration}_count`, `${S}, grpc_status=~"${A66_SERVER_ERROR_CODES}"`)}) or vector(0)) / sum(${rate(`${A66.serverDuration}_count`, S)})`,
        `Share of calls ending in a server-side error (${A66_SERVER_ERROR_CODES.replaceAll('|', ', ')}).`,
      ),
    )
    .withPanel(
      stat(
        'Server p99 latency',
        's',
        `histogram_quantile(0.99, sum by (le) (${rate(`${A66.serverDuration}_bucket`, S)}))`,
        '99th percentile of grpc.server.call.duration over all selected methods.',
      ),
    )
    .withPanel(
      stat(
        'Client attempts per call',
        'short',
        `sum(${rate(A66.attemptStarted, C)}) / sum(${rate(`${A66.callDuration}_count`, C)})`,
        'Attempts started per call finished: 1 without retries.',
      ),
    )
    .withRow(new RowBuilder('Server: grpc.server.call.*'))
    .withPanel(
      timeseries(
        'Server call rate by method and status',
        'reqps',
        [
          [
            '{{grpc_method}} {{grpc_status}}',
            `sum by (grpc_method, grpc_status) (${rate(`${A66.serverDuration}_count`, S)})`,
          ],
        ],
        { description: 'Calls finished per second, by grpc.method and grpc.status.' },
      ),
    )
    .withPanel(
      timeseries(
        'Server calls started / s by method',
        'reqps',
        [['{{grpc_method}}', `sum by (grpc_method) (${rate(A66.serverStarted, S)})`]],
        { description: 'grpc.server.call.started: counted when the request headers arrive.' },
      ),
    )
    .withPanel(
      timeseries(
        'Server latency p50 / p99 (grpc.server.call.duration)',
        's',
        [
          ['p50 {{grpc_method}}', quantile(0.5, A66.serverDuration, S)],
          ['p99 {{grpc_method}}', quantile(0.99, A66.serverDuration, S)],
        ],
        { description: 'From the request headers to the status, per method, over all statuses.' },
      ),
    )
    .withPanel(
      heatmap(
        'Server latency heatmap',
        `sum by (le) (${rate(`${A66.serverDuration}_bucket`, S)})`,
        "Distribution of grpc.server.call.duration across A66's latency buckets.",
      ),
    )
    .withRow(new RowBuilder('Client: grpc.client.call.* and grpc.client.attempt.*'))
    .withPanel(
      timeseries(
        'Client call rate by method and status',
        'reqps',
        [
          [
            '{{grpc_method}} {{grpc_status}}',
            `sum by (grpc_method, grpc_status) (${rate(`${A66.callDuration}_count`, C)})`,
          ],
        ],
        {
          description: 'Calls as the application sees them (after retries), by grpc.method and grpc.status.',
        },
      ),
    )
    .withPanel(
      timeseries(
        'Client call vs attempt duration p50 / p99',
        's',
        [
          ['call p50 {{grpc_method}}', quantile(0.5, A66.callDuration, C)],
          ['call p99 {{grpc_method}}', quantile(0.99, A66.callDuration, C)],
          ['attempt p50 {{grpc_method}}', quantile(0.5, A66.attemptDuration, C)],
          ['attempt p99 {{grpc_method}}', quantile(0.99, A66.attemptDuration, C)],
        ] satisfies Query[],
        {
          description:
            'grpc.client.call.duration covers every attempt and the backoff between them; grpc.client.attempt.duration one attempt. A call p99 far above the attempt p99 means retries.',
        },
      ),
    )
    .withPanel(
      timeseries(
        'Attempts per call by method',
        'short',
        [
          [
            '{{grpc_method}}',
            `sum by (grpc_method) (${rate(A66.attemptStarted, C)}) / sum by (grpc_method) (${rate(`${A66.callDuration}_count`, C)})`,
          ],
        ],
        {
          description:
            'grpc.client.attempt.started over calls finished: 1 without retries, 2 when every call is retried once.',
        },
      ),
    )
    .withPanel(
      timeseries(
        'Retries / s by method (A96 grpc.client.call.retries)',
        'short',
        [['{{grpc_method}}', `sum by (grpc_method) (${rate(`${A66.callRetries}_sum`, C)})`]],
        {
          description:
            "gRFC A96's retry count, recorded for calls that had retries; empty unless the client turns on retryMetrics (off by default, as in gRPC).",
        },
      ),
    )
    .withRow(new RowBuilder('Message sizes (total compressed bytes)'))
    .withPanel(
      timeseries(
        'Server bytes per call: received and sent',
        'bytes',
        [
          ['received {{grpc_method}}', meanSize(A66.serverRcvd, S)],
          ['sent {{grpc_method}}', meanSize(A66.serverSent, S)],
        ],
        {
          description:
            'Mean of grpc.server.call.rcvd/sent_total_compressed_message_size: all messages of a call together.',
        },
      ),
    )
    .withPanel(
      timeseries(
        'Client bytes per attempt: sent and received',
        'bytes',
        [
          ['sent {{grpc_method}}', meanSize(A66.attemptSent, C)],
          ['received {{grpc_method}}', meanSize(A66.attemptRcvd, C)],
        ],
        {
          description:
            'Mean of grpc.client.attempt.sent/rcvd_total_compressed_message_size: all messages of an attempt together.',
        },
      ),
    );
}
