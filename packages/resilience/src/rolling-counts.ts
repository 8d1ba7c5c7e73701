/**
 * Two counts over a rolling window (calls and failures for the circuit breaker, requests and
 * accepts for `clientThrottle`), kept in a ring of buckets with running totals: counting costs
 * O(1) and allocates nothing, and outcomes leave the window one bucket at a time as the clock
 * passes them.
 */
export class RollingCounts {
  /** The first count over the window, as of the last `advance`. */
  first = 0;
  /** The second count over the window, as of the last `advance`. */
  second = 0;
  private readonly firsts: Float64Array;
  private readonly seconds: Float64Array;
  private readonly bucketMs: number;
  /** Index (time / bucketMs) of the newest bucket. */
  private head = Number.NEGATIVE_INFINITY;

  constructor(windowMs: number, buckets: number) {
    this.firsts = new Float64Array(buckets);
    this.seconds = new Float64Array(buckets);
    this.bucketMs = windowMs / buckets;
  }

  /** Counts one of the first kind at `now`. */
  addFirst(now: number): void {
    const slot = this.advance(now);
    this.firsts[slot] = (this.firsts[slot] ?? 0) + 1;
    this.first++;
  }

  /** Counts one of the second kind at `now`. */
  addSecond(now: number): void {
    const slot = this.advance(now);
    this.seconds[slot] = (this.seconds[slot] ?? 0) + 1;
    this.second++;
  }

  /** Forgets everything counted. */
  reset(): void {
    this.firsts.fill(0);
    this.seconds.fill(0);
    this.first = 0;
    this.second = 0;
  }

  /** Moves the window to end at `now`, dropping the buckets that left it; returns the current slot. */
  advance(now: number): number {
    const n = this.firsts.length;
    const index = Math.floor(now / this.bucketMs);
    if (index > this.head) {
      const stale = Math.min(n, index - this.head);
      if (stale === n) {
        // A fresh ring: nothing to subtract, and no float drift carried over.
        this.reset();
      } else {
        for (let i = 1; i <= stale; i++) {
          const slot = (((index - stale + i) % n) + n) % n;
          this.first -= this.firsts[slot] ?? 0;
          this.second -= this.seconds[slot] ?? 0;
          this.firsts[slot] = 0;
          this.seconds[slot] = 0;
        }
      }
      this.head = index;
    }
    return ((this.head % n) + n) % n;
  }
}
