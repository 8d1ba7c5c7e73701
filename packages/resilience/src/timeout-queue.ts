/** What a `TimeoutQueue` calls when a timeout passes (the call it belongs to: no closure per call). */
export interface Expirable {
  expire(): void;
}

export interface QueuedTimeout {
  readonly at: number;
  target: Expirable | undefined;
  next: QueuedTimeout | undefined;
}

/**
 * Timeouts that all last `ms`: added in time order, they also expire in that order, so a FIFO list
 * with one timer for its head replaces a timer per call (a Node timer per call, an async resource
 * when async hooks are on, showed as the largest cost of this interceptor).
 */
export class TimeoutQueue {
  private head: QueuedTimeout | undefined;
  private tail: QueuedTimeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private armedFor = 0;

  constructor(private readonly ms: number) {}

  /**
   * Calls `target.expire()` `ms` after `now` (the caller's `Date.now()`: one clock read per call)
   * unless the returned entry's `target` is cleared first.
   */
  add(target: Expirable, now: number): QueuedTimeout {
    const entry: QueuedTimeout = { at: now + this.ms, target, next: undefined };
    if (this.tail === undefined) this.head = entry;
    else this.tail.next = entry;
    this.tail = entry;
    if (this.timer === undefined) this.arm(entry.at);
    return entry;
  }

  /**
   * Forgets `entry`. Calls mostly end in the order they started, so dropping ended entries from the
   * head keeps the queue as long as the calls in flight: entries and their calls die young instead
   * of living a whole timeout (and being promoted to the old generation) when calls are short.
   */
  cancel(entry: QueuedTimeout): void {
    entry.target = undefined;
    let head = this.head;
    while (head !== undefined && head.target === undefined) head = head.next;
    this.head = head;
    if (head === undefined) this.tail = undefined;
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(this.expire, Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    const now = Date.now();
    let entry = this.head;
    while (entry !== undefined && (entry.target === undefined || entry.at <= now)) {
      const target = entry.target;
      entry.target = undefined;
      entry = entry.next;
      this.head = entry;
      target?.expire();
    }
    if (entry === undefined) this.tail = undefined;
    else if (this.timer === undefined || this.armedFor !== entry.at) this.arm(entry.at);
  };
}
