import { DashboardBuilder, DashboardCursorSync, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { datasourceVariable, labelVariable, stat, timeseries } from './panels';

/** The SLO recording rules (prometheus/rules/slo.yml, generated from prometheus/slo/objectives.ts). */
const OBJECTIVE = 'slo:objective:ratio';
const BUDGET_REMAINING = 'slo:error_budget_remaining:ratio';
const sliError = (window: string) => `slo:sli_error:ratio_rate${window}`;

const F = 'grpc_service=~"$service", slo=~"$slo"';

/** Burn rate over a window: how many times faster than the objective allows the budget is spent. */
const burnRate = (window: string) =>
  `${sliError(window)}{${F}} / on (grpc_service, slo) (1 - ${OBJECTIVE}{${F}})`;

const burnQueries = (windows: readonly string[]): [string, string][] =>
  windows.map((w) => [`{{grpc_service}} {{slo}} ${w}`, burnRate(w)]);

/**
 * 4. SLOs: objectives, error budget left and burn rates by window, one line per service and SLO
 * (availability, latency). Every panel reads recording rules, so it stays cheap over long ranges.
 */
export function slos() {
  return new DashboardBuilder('weft / SLOs')
    .uid('weft-slos')
    .description(
      'Availability and latency SLOs per service: error budget and multiwindow burn rates (Google SRE workbook).',
    )
    .tags(['weft', 'grpc', 'slo'])
    .refresh('1m')
    .time({ from: 'now-7d', to: 'now' })
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair)
    .editable()
    .withVariable(datasourceVariable())
    .withVariable(labelVariable('service', 'Service', OBJECTIVE, 'grpc_service', ''))
    .withVariable(labelVariable('slo', 'SLO', OBJECTIVE, 'slo', 'grpc_service=~"$service"'))
    .withRow(new RowBuilder('Objectives and error budget'))
    .withPanel(
      stat(
        'Objective',
        'percentunit',
        `${OBJECTIVE}{${F}}`,
        'Share of good events each SLO promises (prometheus/slo/objectives.ts).',
      ),
    )
    .withPanel(
      stat(
        'Error budget remaining (30d)',
        'percentunit',
        `${BUDGET_REMAINING}{${F}}`,
        'Share of the 30-day error budget not spent yet; below 0 the SLO is missed. Means what it says once Prometheus holds 30 days.',
      ),
    )
    .withPanel(
      stat(
        'SLI (last 5m)',
        'percentunit',
        `1 - ${sliError('5m')}{${F}}`,
        'Share of good events over the last 5 minutes: calls without a server fault (availability), unary calls within the threshold (latency).',
      ),
    )
    .withPanel(
      stat(
        'Burn rate (1h)',
        'short',
        burnRate('1h'),
        'Error budget spent per hour, as a multiple of the sustainable rate; 14.4 with the 5m rate also above it pages.',
      ),
    )
    .withRow(new RowBuilder('Burn rates'))
    .withPanel(
      timeseries(
        'Burn rate, paging windows (14.4x over 1h and 5m, 6x over 6h and 30m)',
        'short',
        burnQueries(['1h', '5m', '6h', '30m']),
        {
          description:
            'GrpcSLOErrorBudgetBurnFast fires when both windows of a pair are above its burn rate: 14.4 for 1h and 5m, 6 for 6h and 30m.',
        },
      ),
    )
    .withPanel(
      timeseries(
        'Burn rate, ticket windows (3x over 1d and 2h, 1x over 3d and 6h)',
        'short',
        burnQueries(['1d', '2h', '3d', '6h']),
        {
          description:
            'GrpcSLOErrorBudgetBurnSlow fires when both windows of a pair are above its burn rate. The 1d and 3d lines fill in over that much history.',
        },
      ),
    )
    .withPanel(
      timeseries(
        'Error ratio (5m) against the budget',
        'percentunit',
        [
          ['{{grpc_service}} {{slo}} error ratio', `${sliError('5m')}{${F}}`],
          ['{{grpc_service}} {{slo}} budget', `1 - ${OBJECTIVE}{${F}}`],
        ],
        { description: 'Bad events over all events, and the share the objective allows.' },
      ),
    )
    .withPanel(
      timeseries('Error budget remaining (30d)', 'percentunit', [
        ['{{grpc_service}} {{slo}}', `${BUDGET_REMAINING}{${F}}`],
      ]),
    );
}
