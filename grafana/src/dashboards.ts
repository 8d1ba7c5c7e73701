import { RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { a66 } from './a66-dashboard';
import { base, datasourceVariable, heatmap, labelVariable, stat, timeseries } from './panels';
import {
  ALL_REPLICAS_FILTER,
  CLIENT_FILTER,
  JOB_FILTER,
  LOAD_FILTER,
  latencyQuantiles,
  RECORDED,
  SERVER_ERROR_CODES,
  SERVER_FILTER,
} from './queries';
import { slos } from './slo-dashboard';

/**
 * 1. What the server is doing: traffic, errors, latency, in-flight calls, stream messages, and how
 * the calls spread over its replicas.
 */
export function serverOverview() {
  const m = 'grpc_server_handled_total';
  return base(
    'weft-grpc-server',
    'weft / gRPC server',
    'gRPC server overview from go-grpc-prometheus-compatible metrics.',
  )
    .withVariable(datasourceVariable())
    .withVariable(labelVariable('job', 'Job', m, 'job', ''))
    .withVariable(labelVariable('instance', 'Instance', m, 'instance', 'job=~"$job"'))
    .withVariable(labelVariable('service', 'Service', m, 'grpc_service', 'job=~"$job"'))
    .withVariable(
      labelVariable('method', 'Method', m, 'grpc_method', 'job=~"$job", grpc_service=~"$service"'),
    )
    .withRow(new RowBuilder('Traffic'))
    .withPanel(
      stat(
        'Requests / s',
        'reqps',
        `sum(${RECORDED.serverHandledRate}{${SERVER_FILTER}})`,
        'All calls handled, per second (1m rate).',
      ),
    )
    .withPanel(
      stat(
        'Server error ratio',
        'percentunit',
        `sum(${RECORDED.serverHandledRate}{${SERVER_FILTER}, grpc_code=~"${SERVER_ERROR_CODES}"}) / sum(${RECORDED.serverHandledRate}{${SERVER_FILTER}})`,
        `Share of calls ending in a server-side error (${SERVER_ERROR_CODES.replaceAll('|', ', ')}).`,
      ),
    )
    .withPanel(
      stat(
        'In-flight calls',
        'short',
        `sum(weft_server_in_flight_calls{${SERVER_FILTER}})`,
        'Calls started and not finished yet.',
      ),
    )
    .withPanel(
      stat(
        'p99 latency',
        's',
        `histogram_quantile(0.99, sum by (le) (${RECORDED.serverLatencyBuckets}{${SERVER_FILTER}}))`,
        '99th percentile of handling time over all selected methods.',
      ),
    )
    .withPanel(
      timeseries('Request rate by method and code', 'reqps', [
        [
          '{{grpc_method}} {{grpc_code}}',
          `sum by (grpc_method, grpc_code) (${RECORDED.serverHandledRate}{${SERVER_FILTER}})`,
        ],
      ]),
    )
    .withPanel(
      timeseries(
        'Server error ratio by method',
        'percentunit',
        [['{{grpc_method}}', `max by (grpc_method) (${RECORDED.serverErrorRatio}{${SERVER_FILTER}})`]],
        { description: 'Server-side errors / all calls, per method.' },
      ),
    )
    .withRow(new RowBuilder('Latency'))
    .withPanel(
      timeseries(
        'Latency p50 / p90 / p99',
        's',
        latencyQuantiles(RECORDED.serverLatencyBuckets, SERVER_FILTER),
        {
          exemplars: true,
          description:
            'Handling time quantiles per method. Exemplars (dots) link to the trace of a call in that bucket.',
        },
      ),
    )
    .withPanel(
      heatmap(
        'Latency heatmap',
        `sum by (le) (rate(grpc_server_handling_seconds_bucket{${SERVER_FILTER}}[$__rate_interval]))`,
        'Distribution of handling time across histogram buckets.',
      ),
    )
    .withRow(new RowBuilder('Concurrency and streams'))
    .withPanel(
      timeseries('In-flight calls by method', 'short', [
        ['{{grpc_method}}', `sum by (grpc_method) (weft_server_in_flight_calls{${SERVER_FILTER}})`],
      ]),
    )
    .withPanel(
      timeseries('Stream messages / s', 'short', [
        [
          'received {{grpc_method}}',
          `sum by (grpc_method) (rate(grpc_server_msg_received_total{${SERVER_FILTER}, grpc_type!="unary"}[$__rate_interval]))`,
        ],
        [
          'sent {{grpc_method}}',
          `sum by (grpc_method) (rate(grpc_server_msg_sent_total{${SERVER_FILTER}, grpc_type!="unary"}[$__rate_interval]))`,
        ],
      ]),
    )
    .withRow(new RowBuilder('Balancing across replicas'))
    .withPanel(
      timeseries(
        'Call share by replica',
        'percentunit',
        [
          [
            '{{instance}}',
            `sum by (instance) (${RECORDED.serverHandledRate}{${SERVER_FILTER}}) / ignoring(instance) group_left sum(${RECORDED.serverHandledRate}{${ALL_REPLICAS_FILTER}})`,
          ],
        ],
        {
          description:
            "Each replica's share of the calls handled by all of them (1m rate). With round_robin every replica gets an equal share whatever its speed; least_request and weighted_round_robin move calls away from a slow one (LB_POLICY in the demo).",
        },
      ),
    )
    .withPanel(
      timeseries(
        'Reported utilization by replica',
        'percentunit',
        [
          [
            'application {{instance}}',
            `max by (instance) (weft_load_application_utilization{${LOAD_FILTER}})`,
          ],
          ['CPU {{instance}}', `max by (instance) (weft_load_cpu_utilization{${LOAD_FILTER}})`],
          ['event loop {{instance}}', `max by (instance) (weft_load_event_loop_utilization{${LOAD_FILTER}})`],
        ],
        {
          description:
            "What each replica reports in its ORCA load reports (loadReporting, every second). weighted_round_robin weighs a replica by QPS / application utilization: the higher it is, the smaller the replica's share.",
        },
      ),
    )
    .withPanel(
      timeseries(
        'Reported calls and errors / s by replica',
        'reqps',
        [
          ['calls {{instance}}', `max by (instance) (weft_load_calls_per_second{${LOAD_FILTER}})`],
          ['errors {{instance}}', `max by (instance) (weft_load_errors_per_second{${LOAD_FILTER}})`],
        ],
        {
          description:
            'QPS and EPS in the load reports (the last second). EPS counts server faults only; weighted_round_robin adds EPS / QPS to the utilization it divides by.',
        },
      ),
    )
    .withPanel(
      timeseries(
        'Latency p99 by replica',
        's',
        [
          [
            'p99 {{instance}}',
            `histogram_quantile(0.99, sum by (le, instance) (${RECORDED.serverLatencyBuckets}{${SERVER_FILTER}}))`,
          ],
        ],
        { description: 'Handling time per replica: a slow replica stands out here.' },
      ),
    );
}

/** 2. The caller's side: the same, plus retries, retry throttling and circuit breakers. */
export function clientView() {
  const m = 'grpc_client_handled_total';
  return base(
    'weft-grpc-client',
    'weft / gRPC client',
    'gRPC client view: calls as the caller sees them, retries, throttling and breakers.',
  )
    .withVariable(datasourceVariable())
    .withVariable(labelVariable('job', 'Job', m, 'job', ''))
    .withVariable(labelVariable('service', 'Service', m, 'grpc_service', 'job=~"$job"'))
    .withVariable(
      labelVariable('method', 'Method', m, 'grpc_method', 'job=~"$job", grpc_service=~"$service"'),
    )
    .withRow(new RowBuilder('Calls'))
    .withPanel(
      timeseries('Call rate by method and code', 'reqps', [
        [
          '{{grpc_method}} {{grpc_code}}',
          `sum by (grpc_method, grpc_code) (${RECORDED.clientHandledRate}{${CLIENT_FILTER}})`,
        ],
      ]),
    )
    .withPanel(
      timeseries(
        'Client latency p50 / p90 / p99',
        's',
        latencyQuantiles(RECORDED.clientLatencyBuckets, CLIENT_FILTER),
        {
          exemplars: true,
          description: 'Whole-call time as the client sees it, retries and backoff included.',
        },
      ),
    )
    .withPanel(
      timeseries('In-flight calls', 'short', [
        ['{{grpc_method}}', `sum by (grpc_method) (weft_client_in_flight_calls{${CLIENT_FILTER}})`],
      ]),
    )
    .withPanel(
      timeseries('Messages / s', 'short', [
        [
          'sent {{grpc_method}}',
          `sum by (grpc_method) (rate(grpc_client_msg_sent_total{${CLIENT_FILTER}}[$__rate_interval]))`,
        ],
        [
          'received {{grpc_method}}',
          `sum by (grpc_method) (rate(grpc_client_msg_received_total{${CLIENT_FILTER}}[$__rate_interval]))`,
        ],
      ]),
    )
    .withRow(new RowBuilder('Resilience'))
    .withPanel(
      timeseries('Retries / s by cause', 'short', [
        [
          '{{grpc_method}} after {{grpc_code}}',
          `sum by (grpc_method, grpc_code) (rate(weft_retry_attempts_total{${CLIENT_FILTER}}[$__rate_interval]))`,
        ],
      ]),
    )
    .withPanel(
      timeseries('Retries refused by throttling / s', 'short', [
        ['{{target}}', `sum by (target) (rate(weft_retry_throttled_total{${JOB_FILTER}}[$__rate_interval]))`],
      ]),
    )
    .withPanel(
      timeseries(
        'Circuit breaker state',
        'short',
        [
          [
            '{{target}} {{method}} {{state}}',
            `max by (target, method, state) (weft_circuit_breaker_state{${JOB_FILTER}}) == 1`,
          ],
        ],
        { description: 'The current state of each breaker (closed, half_open, open).' },
      ),
    )
    .withPanel(
      timeseries('Calls failed fast by an open breaker / s', 'short', [
        [
          '{{target}} {{grpc_method}}',
          `sum by (target, grpc_method) (rate(weft_circuit_breaker_rejections_total{${JOB_FILTER}}[$__rate_interval]))`,
        ],
      ]),
    );
}

/** 3. Security and limits: who is refused, and why. */
export function securityAndLimits() {
  return base(
    'weft-security-limits',
    'weft / security and limits',
    'Auth failures, permission denials and limit rejections.',
  )
    .withVariable(datasourceVariable())
    .withVariable(labelVariable('job', 'Job', 'grpc_server_handled_total', 'job', ''))
    .withRow(new RowBuilder('Authentication'))
    .withPanel(
      timeseries('Auth failures / s by reason', 'short', [
        ['{{reason}}', `sum by (reason) (${RECORDED.authFailureRate}{${JOB_FILTER}})`],
      ]),
    )
    .withPanel(
      timeseries('Unauthenticated and permission denied / s by method', 'short', [
        [
          '{{grpc_method}} {{grpc_code}}',
          `sum by (grpc_method, grpc_code) (${RECORDED.serverHandledRate}{${JOB_FILTER}, grpc_code=~"Unauthenticated|PermissionDenied"})`,
        ],
      ]),
    )
    .withPanel(
      timeseries('Permission denials by method and reason', 'short', [
        [
          '{{grpc_method}} {{reason}}',
          `sum by (grpc_method, reason) (rate(weft_auth_failures_total{${JOB_FILTER}, grpc_code="PermissionDenied"}[$__rate_interval]))`,
        ],
      ]),
    )
    .withRow(new RowBuilder('Limits'))
    .withPanel(
      timeseries('Rate-limit rejections / s by method and key class', 'short', [
        [
          '{{grpc_method}} {{rule}} ({{key_class}})',
          `sum by (grpc_method, rule, key_class) (rate(weft_limit_rejections_total{${JOB_FILTER}, limiter="rate"}[$__rate_interval]))`,
        ],
      ]),
    )
    .withPanel(
      timeseries('Concurrency-limit rejections / s by method', 'short', [
        [
          '{{grpc_method}} ({{key_class}})',
          `sum by (grpc_method, key_class) (rate(weft_limit_rejections_total{${JOB_FILTER}, limiter="concurrency"}[$__rate_interval]))`,
        ],
      ]),
    )
    .withPanel(
      timeseries('Share of calls refused by limits', 'percentunit', [
        [
          '{{grpc_method}}',
          `sum by (grpc_method) (rate(weft_limit_rejections_total{${JOB_FILTER}}[$__rate_interval])) / sum by (grpc_method) (${RECORDED.serverHandledRate}{${JOB_FILTER}})`,
        ],
      ]),
    )
    .withRow(new RowBuilder('Adaptive concurrency (adaptiveConcurrency, Gradient2)'))
    .withPanel(
      timeseries(
        'Adaptive limit and calls in flight',
        'short',
        [
          [
            '{{limiter}} limit ({{instance}})',
            `max by (instance, limiter) (weft_adaptive_concurrency_limit{${JOB_FILTER}})`,
          ],
          [
            '{{limiter}} in flight ({{instance}})',
            `max by (instance, limiter) (weft_adaptive_concurrency_in_flight{${JOB_FILTER}})`,
          ],
        ],
        {
          description:
            'The limit follows latency: it grows while calls are about as fast as the long-term RTT and shrinks when they slow down. In flight near the limit means calls are being shed.',
        },
      ),
    )
    .withPanel(
      timeseries(
        'Adaptive limiter RTT: baseline and last sample',
        's',
        [
          [
            '{{limiter}} baseline ({{instance}})',
            `max by (instance, limiter) (weft_adaptive_concurrency_min_rtt_seconds{${JOB_FILTER}})`,
          ],
          [
            '{{limiter}} sample ({{instance}})',
            `max by (instance, limiter) (weft_adaptive_concurrency_sample_rtt_seconds{${JOB_FILTER}})`,
          ],
        ],
        {
          description:
            "Gradient2's long-term RTT (the baseline, reported as min RTT) and the last call's RTT. The limit shrinks when samples exceed 1.5x the baseline.",
        },
      ),
    )
    .withPanel(
      timeseries(
        'Adaptive limit rejections / s by partition',
        'short',
        [
          [
            '{{limiter}} {{partition}}',
            `sum by (limiter, partition) (rate(weft_adaptive_concurrency_rejections_total{${JOB_FILTER}}[$__rate_interval]))`,
          ],
        ],
        {
          description:
            'Calls refused with UNAVAILABLE. Under overload the partition with the smallest share goes first.',
        },
      ),
    )
    .withPanel(
      timeseries('Adaptive limit share and in flight by partition', 'short', [
        [
          '{{limiter}} {{partition}} share',
          `max by (limiter, partition) (weft_adaptive_concurrency_partition_limit{${JOB_FILTER}})`,
        ],
        [
          '{{limiter}} {{partition}} in flight',
          `sum by (limiter, partition) (weft_adaptive_concurrency_partition_in_flight{${JOB_FILTER}})`,
        ],
      ]),
    );
}

export const DASHBOARDS = {
  'grpc-server.json': serverOverview,
  'grpc-client.json': clientView,
  'security-and-limits.json': securityAndLimits,
  'slos.json': slos,
  'grpc-a66.json': a66,
} as const;

/** The JSON a file in grafana/dashboards/ must hold. */
export function renderDashboards(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [file, build] of Object.entries(DASHBOARDS))
    out[file] = `${JSON.stringify(build().build(), null, 2)}\n`;
  return out;
}
