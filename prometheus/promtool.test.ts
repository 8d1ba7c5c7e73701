/** The repo's Prometheus config and rules pass promtool's checks and their unit tests. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binary, requirePath } from '../test/harness/servers';

const promtool = binary('promtool', 'prometheus');
const run = (args: string[]) =>
  execFileSync(requirePath(promtool), args, { cwd: __dirname, encoding: 'utf8' });

describe.runIf(promtool.run)('promtool', () => {
  it('accepts the scrape config', () => {
    expect(run(['check', 'config', 'prometheus.yml'])).toContain('SUCCESS');
  });

  it('accepts every rule file', () => {
    const files = readdirSync(join(__dirname, 'rules')).map((f) => join('rules', f));
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(run(['check', 'rules', ...files])).not.toContain('FAILED');
  });

  it('passes the alert and recording rule unit tests', () => {
    expect(run(['test', 'rules', 'tests/alerts.test.yml'])).toContain('SUCCESS');
  });

  // Rule files beyond alerts.yml and recording.yml bring their own test file (tests/<name>.test.yml).
  const extraTests = readdirSync(join(__dirname, 'tests')).filter((f) => f !== 'alerts.test.yml');
  it.each(extraTests)('passes the rule unit tests in tests/%s', (file) => {
    expect(run(['test', 'rules', join('tests', file)])).toContain('SUCCESS');
  });

  // A latency burn pages once: the SLO rules (rules/slo.yml, from slo/objectives.ts) own the latency
  // objective with the workbook's multiwindow alerts; an alert in alerts.yml on the same histogram
  // would page a second time for the same burn, against a threshold set in a second place.
  it('leaves latency burn alerts to the SLO rules', () => {
    const alerts = readFileSync(join(__dirname, 'rules', 'alerts.yml'), 'utf8');
    expect(alerts).not.toContain('grpc_server_handling_seconds');
    expect(readFileSync(join(__dirname, 'rules', 'slo.yml'), 'utf8')).toContain(
      'grpc_server_handling_seconds_bucket',
    );
  });

  it('has a unit test for every alert', () => {
    const names = [
      ...readFileSync(join(__dirname, 'rules', 'alerts.yml'), 'utf8').matchAll(/- alert: (\w+)/g),
    ].map((m) => m[1]);
    const tests = readFileSync(join(__dirname, 'tests', 'alerts.test.yml'), 'utf8');
    expect(names.length).toBe(4);
    for (const name of names) expect(tests, name).toContain(`alertname: ${name}`);
  });
});
