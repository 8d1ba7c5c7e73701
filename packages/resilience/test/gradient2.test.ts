import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OptionError } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { GRADIENT2_DEFAULTS, Gradient2 } from '../src/index';

/**
 * Rows of [rttNanos, inFlight, limitAfter, longRttNanosAfter] recorded from Netflix's own Gradient2Limit (default
 * builder) by reference/Gradient2Trace.java: rising at low latency, falling when latency grows
 * fivefold, recovering, app-limited, and noisy. Regenerate with reference/gradient2-trace.sh.
 */
const reference = readFileSync(join(__dirname, 'reference', 'gradient2-reference.csv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => line.split(',').map(Number) as [number, number, number, number]);

const MS = 1e6;

/** Feeds `n` samples of `rtt` with the limiter saturated (in flight = limit); returns the limits seen. */
function saturated(g: Gradient2, rtt: number, n: number): number[] {
  const seen: number[] = [];
  for (let i = 0; i < n; i++) seen.push(g.onSample(rtt, g.limit));
  return seen;
}

describe('Gradient2', () => {
  it("has Netflix's defaults", () => {
    expect(GRADIENT2_DEFAULTS).toEqual({
      initialLimit: 20,
      minLimit: 20,
      maxLimit: 200,
      smoothing: 0.2,
      queueSize: 4,
      longWindow: 600,
      rttTolerance: 1.5,
    });
    expect(new Gradient2().limit).toBe(20);
  });

  it('gives the same limit and long-term RTT as the Java reference after every one of its samples', () => {
    expect(reference.length).toBeGreaterThan(1300);
    const g = new Gradient2();
    // Java reports the long-term RTT as a long (truncated nanoseconds).
    const got = reference.map(([rtt, inFlight]) => [
      rtt,
      inFlight,
      g.onSample(rtt, inFlight),
      Math.trunc(g.longRtt),
    ]);
    expect(got).toEqual(reference);
  });

  it('raises the limit while latency stays low, up to maxLimit', () => {
    const g = new Gradient2();
    const seen = saturated(g, 10 * MS, 300);
    expect(seen[0]).toBe(20);
    expect(seen[49]).toBeGreaterThan(50);
    expect(seen.at(-1)).toBe(200);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1] as number);
  });

  it('lowers the limit when latency grows beyond the tolerance, down to minLimit, and recovers', () => {
    const g = new Gradient2();
    saturated(g, 10 * MS, 300);
    const falling = saturated(g, 50 * MS, 100);
    expect(falling[0]).toBeLessThan(200);
    expect(falling.at(-1)).toBe(20);
    const recovering = saturated(g, 10 * MS, 300);
    expect(recovering[100]).toBeGreaterThan(60);
    expect(recovering.at(-1)).toBe(200);
  });

  it('tolerates latency up to rttTolerance times the long-term RTT', () => {
    const g = new Gradient2();
    saturated(g, 10 * MS, 300);
    // 1.4x the baseline: within the default tolerance of 1.5, the limit holds at its maximum.
    expect(saturated(g, 14 * MS, 20).at(-1)).toBe(200);
    const strict = new Gradient2({ rttTolerance: 1 });
    saturated(strict, 10 * MS, 300);
    expect(saturated(strict, 14 * MS, 20).at(-1)).toBeLessThan(200);
  });

  it('does not change the limit while fewer than half of it are in flight', () => {
    const g = new Gradient2();
    saturated(g, 10 * MS, 100);
    const before = g.limit;
    for (let i = 0; i < 50; i++) g.onSample(100 * MS, Math.floor(before / 2) - 1);
    expect(g.limit).toBe(before);
    // The same sample with just over half of the limit in flight does lower it.
    g.onSample(100 * MS, Math.ceil(before / 2) + 1);
    expect(g.limit).toBeLessThan(before);
  });

  it('rejects settings the algorithm cannot use', () => {
    expect(() => new Gradient2({ minLimit: 0 })).toThrow(OptionError);
    expect(() => new Gradient2({ minLimit: 50, maxLimit: 10 })).toThrow(OptionError);
    expect(() => new Gradient2({ smoothing: 0 })).toThrow(OptionError);
    expect(() => new Gradient2({ rttTolerance: 0.9 })).toThrow(OptionError);
  });
});
