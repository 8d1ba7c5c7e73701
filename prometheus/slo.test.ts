/** The SLO rules: generated from one table of objectives, and every alert tested firing and quiet. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OBJECTIVES } from './slo/objectives';
import { BURN_RATES, renderSloRules, WINDOWS } from './slo/rules';

const rules = readFileSync(join(__dirname, 'rules', 'slo.yml'), 'utf8');
const tests = readFileSync(join(__dirname, 'tests', 'slo.test.yml'), 'utf8');

describe('SLO rules', () => {
  it('rules/slo.yml is up to date with slo/objectives.ts (run `npm run slo-rules`)', () => {
    expect(rules).toBe(renderSloRules());
  });

  it('records the SRE workbook series for every window, objective and budget', () => {
    for (const w of ['5m', '30m', '1h', '2h', '6h', '1d', '3d']) {
      expect(rules).toContain(`- record: slo:sli_error:ratio_rate${w}\n`);
    }
    expect(rules).toContain('- record: slo:objective:ratio\n');
    expect(rules).toContain('- record: slo:error_budget_remaining:ratio\n');
    expect(WINDOWS).toContain('30d');
  });

  it('uses the workbook burn rates: page 14.4x 1h/5m and 6x 6h/30m, ticket 3x 1d/2h and 1x 3d/6h', () => {
    expect(BURN_RATES).toEqual({
      page: [
        ['1h', '5m', 14.4],
        ['6h', '30m', 6],
      ],
      ticket: [
        ['1d', '2h', 3],
        ['3d', '6h', 1],
      ],
    });
  });

  it('keeps objectives as ratios below 1 and latency thresholds on a bucket bound', () => {
    const bounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]; // DEFAULT_BUCKETS
    for (const o of OBJECTIVES) {
      expect(o.availability).toBeGreaterThan(0);
      expect(o.availability).toBeLessThan(1);
      expect(o.latency.objective).toBeLessThan(1);
      expect(bounds).toContain(o.latency.thresholdSeconds);
    }
  });

  it('has a promtool test where each alert fires and one where it stays quiet', () => {
    const names = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1] as string);
    expect(names).toEqual(['GrpcSLOErrorBudgetBurnFast', 'GrpcSLOErrorBudgetBurnSlow']);
    for (const name of names) {
      expect(tests, name).toMatch(new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
      expect(tests, name).toMatch(new RegExp(`alertname: ${name}\\n\\s+exp_alerts: \\[\\]`));
    }
  });
});
