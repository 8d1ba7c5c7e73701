/** The last observation that landed in a histogram bucket while a trace was active. */
export interface Exemplar {
  labelSet: Record<string, string>;
  value: number;
  timestamp: number;
}

/**
 * The counters of one label set (type, service, method, extra labels), as plain numbers: a call
 * adds to fields, and the exposition is built only when Prometheus scrapes. This is why weft
 * keeps its own storage under prom-client's registry instead of `Counter.labels(...).inc()`,
 * which hashes the label set on every increment.
 */
export class Series {
  started = 0;
  msgReceived = 0;
  msgSent = 0;
  /** Handled calls by status code (0..16). */
  readonly handled = new Float64Array(17);
  /** Which codes have a series (touched or pre-initialized), so untouched codes stay absent. */
  readonly codesSeen = new Uint8Array(17);
  /** Non-cumulative bucket counts; the last slot is +Inf. */
  readonly buckets: Float64Array;
  readonly exemplars: (Exemplar | undefined)[];
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    readonly bounds: readonly number[],
  ) {
    this.buckets = new Float64Array(bounds.length + 1);
    this.exemplars = new Array(bounds.length + 1);
  }

  observe(seconds: number): number {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > (bounds[i] as number)) i++;
    this.buckets[i] = (this.buckets[i] ?? 0) + 1;
    this.sum += seconds;
    this.count++;
    return i;
  }

  handle(code: number): void {
    const c = code >= 0 && code <= 16 ? code : 2; // anything else is UNKNOWN
    this.handled[c] = (this.handled[c] ?? 0) + 1;
    this.codesSeen[c] = 1;
  }

  inFlight(): number {
    return this.started - this.count;
  }
}
