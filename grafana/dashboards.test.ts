import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOAD_REPORT_GAUGES } from '@weft/metrics';
import { describe, expect, it } from 'vitest';
import { renderDashboards } from './src/dashboards';

const dir = join(__dirname, 'dashboards');

describe('generated dashboards', () => {
  const rendered = renderDashboards();

  it.each(Object.keys(rendered))('%s is up to date with grafana/src (run `npm run dashboards`)', (file) => {
    expect(readFileSync(join(dir, file), 'utf8')).toBe(rendered[file]);
  });

  it('has no stray dashboard files', () => {
    expect(readdirSync(dir).sort()).toEqual(Object.keys(rendered).sort());
  });

  it('gives every panel a title, a data source and at least one query', () => {
    for (const json of Object.values(rendered)) {
      const dashboard = JSON.parse(json) as {
        panels: { type: string; title?: string; targets?: { expr: string }[] }[];
      };
      for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
        expect(panel.title).toBeTruthy();
        expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
        for (const t of panel.targets ?? []) expect(t.expr, panel.title).toMatch(/\S/);
      }
    }
  });
});

describe('the "Balancing across replicas" row of weft / gRPC server', () => {
  interface PanelJson {
    type: string;
    title?: string;
    targets?: { expr: string }[];
  }
  const panels = (JSON.parse(renderDashboards()['grpc-server.json'] as string) as { panels: PanelJson[] })
    .panels;
  const start = panels.findIndex((p) => p.type === 'row' && p.title === 'Balancing across replicas');
  const next = panels.findIndex((p, i) => i > start && p.type === 'row');
  const row = panels.slice(start + 1, next < 0 ? undefined : next);
  const exprs = row.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

  it('exists, with panels', () => {
    expect(start).toBeGreaterThan(0);
    expect(row.map((p) => p.title)).toEqual([
      'Call share by replica',
      'Reported utilization by replica',
      'Reported calls and errors / s by replica',
      'Latency p99 by replica',
    ]);
  });

  it("shows each replica's share of all replicas' calls", () => {
    const [share] = row[0]?.targets ?? [];
    // The numerator per instance and filtered by it; the denominator over every instance.
    expect(share?.expr).toMatch(
      /^sum by \(instance\) \(.*instance=~"\$instance".*\) \/ ignoring\(instance\) group_left sum\(/,
    );
    expect(share?.expr.split(' / ')[1]).not.toContain('instance=~');
  });

  it('reads only load report gauges that loadReportGauges exports', () => {
    const used = new Set(exprs.flatMap((e) => e.match(/weft_load_\w+/g) ?? []));
    const exported = LOAD_REPORT_GAUGES.map(([name]) => name);
    expect([...used].sort()).toEqual(
      [
        'weft_load_application_utilization',
        'weft_load_calls_per_second',
        'weft_load_cpu_utilization',
        'weft_load_errors_per_second',
        'weft_load_event_loop_utilization',
      ].sort(),
    );
    for (const name of used) expect(exported).toContain(name);
  });
});
