/**
 * The samples of one update interval, handed to the limit algorithm as one: Envoy's gradient
 * controller recomputes its limit once per `concurrency_update_interval` from the samples of that
 * interval, and Netflix's `WindowedLimit` (the composition their gRPC example runs Gradient2 in)
 * hands its delegate one sample per window: the window's average RTT (`AverageSampleWindow`) and
 * the most calls in flight any of its calls saw. Per-call updates, which Gradient2 alone does, move
 * the limit by most of itself per round trip; one update per interval lets the queue an update
 * built show before the next one reads it.
 *
 * The window is fixed in time, as Envoy's (Netflix's lasts twice the window's RTT, between a
 * minimum and a maximum); a window ends with the first sample at or after its end, which is
 * counted in it. No timers, no allocation: three numbers per sample.
 */
export class SampleWindow {
  /** The closed window's average RTT, valid after `add` returned true. */
  rtt = 0;
  /** The closed window's most calls in flight, valid after `add` returned true. */
  inFlight = 0;
  private sum = 0;
  private count = 0;
  private maxInFlight = 0;

  constructor(
    private readonly interval: number,
    private end: number,
  ) {}

  /** Adds a sample that ended at `now`; true when it closed the window (`rtt`, `inFlight` hold it). */
  add(rtt: number, inFlight: number, now: number): boolean {
    this.sum += rtt;
    this.count++;
    if (inFlight > this.maxInFlight) this.maxInFlight = inFlight;
    if (now < this.end) return false;
    this.rtt = this.sum / this.count;
    this.inFlight = this.maxInFlight;
    this.sum = 0;
    this.count = 0;
    this.maxInFlight = 0;
    this.end = now + this.interval;
    return true;
  }
}
