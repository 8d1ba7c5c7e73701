/** The last observation that landed in a histogram bucket while a trace was active. */
export interface Exemplar {
  labelSet: Record<string, string>;
  value: number;
  timestamp: number;
}

/** Non-cumulative bucket counts of one histogram (the last slot is +Inf), with sum, count and exemplars. */
export class HistogramCells {
  readonly buckets: Float64Array;
  readonly exemplars: (Exemplar | undefined)[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.buckets = new Float64Array(bounds.length + 1);
    this.exemplars = new Array(bounds.length + 1);
  }

  /** Adds one observation; returns the index of its bucket. */
  observe(seconds: number): number {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > (bounds[i] as number)) i++;
    this.buckets[i] = (this.buckets[i] ?? 0) + 1;
    this.sum += seconds;
    this.count++;
    return i;
  }
}

/**
 * The counters of one label set (type, service, method, extra labels), as plain numbers: a call
 * adds to fields, and the exposition is built only when Prometheus scrapes. This is why weft
 * keeps its own storage under prom-client's registry instead of `Counter.labels(...).inc()`,
 * which hashes the label set on every increment.
 */
export class Series extends HistogramCells {
  started = 0;
  finished = 0;
  msgReceived = 0;
  msgSent = 0;
  /** Handled calls by status code (0..16). */
  readonly handled = new Float64Array(17);
  /** Which codes have a series (touched or pre-initialized), so untouched codes stay absent. */
  readonly codesSeen = new Uint8Array(17);
  /**
   * With `handlingTimeByCode`: the handling-time histogram per status code (0..16), made when a
   * code is first seen; the series' own cells stay empty. `undefined`: one histogram for all codes.
   */
  readonly byCode: (HistogramCells | undefined)[] | undefined;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    bounds: readonly number[],
    byCode = false,
  ) {
    super(bounds);
    this.byCode = byCode ? new Array(17) : undefined;
  }

  /** The histogram a call with this status code is observed in. */
  histogramFor(code: number): HistogramCells {
    const byCode = this.byCode;
    if (byCode === undefined) return this;
    const c = code >= 0 && code <= 16 ? code : 2;
    let cells = byCode[c];
    if (cells === undefined) {
      cells = new HistogramCells(this.bounds);
      byCode[c] = cells;
    }
    return cells;
  }

  handle(code: number): void {
    const c = code >= 0 && code <= 16 ? code : 2; // anything else is UNKNOWN
    this.handled[c] = (this.handled[c] ?? 0) + 1;
    this.codesSeen[c] = 1;
    this.finished++;
  }

  inFlight(): number {
    return this.started - this.finished;
  }
}
