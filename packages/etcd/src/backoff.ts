/** Delays between retries: exponential with full jitter, capped; `reset()` after a success. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {}

  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    // Full jitter, but never below half the initial delay so a flapping etcd is not hammered.
    return Math.max(this.initialMs / 2, Math.random() * ceiling);
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** A message for anything thrown. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
