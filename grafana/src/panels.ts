import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  DashboardBuilder,
  DashboardCursorSync,
  DatasourceVariableBuilder,
  type Panel,
  QueryVariableBuilder,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as HeatmapBuilder } from '@grafana/grafana-foundation-sdk/heatmap';
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

/** Every panel reads the data source picked in the `datasource` variable. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana variable reference, not a JS template
export const PROMETHEUS = { type: 'prometheus', uid: '${datasource}' };

export type Query = [legend: string, expr: string];

/** The settings the operational dashboards share: tags, 10 s refresh, last 30 minutes, shared crosshair. */
export function base(uid: string, title: string, description: string) {
  return new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['weft', 'grpc'])
    .refresh('10s')
    .time({ from: 'now-30m', to: 'now' })
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair)
    .editable();
}

function target(legend: string, expr: string, exemplar = false) {
  return new DataqueryBuilder().expr(expr).legendFormat(legend).exemplar(exemplar).datasource(PROMETHEUS);
}

export function timeseries(
  title: string,
  unit: string,
  queries: Query[],
  options: { description?: string; exemplars?: boolean; width?: number; stack?: boolean } = {},
): cog.Builder<Panel> {
  const panel = new TimeseriesBuilder()
    .title(title)
    .unit(unit)
    .datasource(PROMETHEUS)
    .height(8)
    .span(options.width ?? 12)
    .fillOpacity(10);
  if (options.description !== undefined) panel.description(options.description);
  for (const [legend, expr] of queries) panel.withTarget(target(legend, expr, options.exemplars === true));
  return panel;
}

export function stat(title: string, unit: string, expr: string, description: string): cog.Builder<Panel> {
  return new StatBuilder()
    .title(title)
    .description(description)
    .unit(unit)
    .datasource(PROMETHEUS)
    .height(4)
    .span(6)
    .withTarget(target('', expr));
}

export function heatmap(title: string, expr: string, description: string): cog.Builder<Panel> {
  return new HeatmapBuilder()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .height(8)
    .span(12)
    .calculate(false)
    .withTarget(target('{{le}}', expr, true).format(PromQueryFormat.Heatmap));
}

export function datasourceVariable() {
  return new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus');
}

/** A multi-select label variable with "All" meaning any value (`.*`). */
export function labelVariable(
  name: string,
  label: string,
  metric: string,
  labelName: string,
  filter: string,
) {
  return new QueryVariableBuilder(name)
    .label(label)
    .datasource(PROMETHEUS)
    .query(`label_values(${metric}${filter ? `{${filter}}` : ''}, ${labelName})`)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.*');
}
