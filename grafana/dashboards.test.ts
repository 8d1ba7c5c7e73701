import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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
