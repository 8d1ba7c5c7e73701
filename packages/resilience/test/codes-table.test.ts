import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { BREAKER_FAILURE_CODES, RETRYABLE_CODES, THROTTLE_REJECT_CODES } from '../src/index';

/** The rows of the README's "Which codes count as failure" table: code name -> its three cells. */
function readmeTable(): Map<string, string[]> {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
  const section = readme.split('## Which codes count as failure')[1]?.split('\n## ')[0] ?? '';
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    // | CODE | retry | breaker | throttle |
    if (cells.length === 6 && /^[A-Z_]+$/.test(cells[1] ?? ''))
      rows.set(cells[1] as string, cells.slice(2, 5));
  }
  return rows;
}

const yes = (cell: string | undefined) => cell === 'yes';

describe('the README table of codes each client layer treats as failure', () => {
  const table = readmeTable();
  const codes = Object.keys(status).filter((k) => Number.isNaN(Number(k))) as (keyof typeof status)[];

  it('has a row for every gRPC code', () => {
    expect([...table.keys()].sort()).toEqual([...codes].sort());
  });

  it.each(codes)('says for %s what the defaults in the code do', (name) => {
    const code = status[name];
    const [retry, breaker, throttle] = table.get(name) ?? [];
    expect(yes(retry), 'retry()').toBe(RETRYABLE_CODES.includes(code));
    expect(yes(breaker), 'circuitBreaker()').toBe(BREAKER_FAILURE_CODES.includes(code));
    expect(yes(throttle), 'clientThrottle()').toBe(THROTTLE_REJECT_CODES.includes(code));
  });

  it('keeps CANCELLED out of the breaker either way', () => {
    expect(table.get('CANCELLED')?.[1]).toBe('neither (ignored)');
  });
});
