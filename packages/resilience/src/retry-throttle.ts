/**
 * gRFC A6 retry throttling: a token bucket per target. Every retryable failure takes one token,
 * every success gives back `tokenRatio`; while the bucket holds no more than half of `maxTokens`,
 * no retries are made (first attempts always go out). A flood of failures thus turns retries off
 * after a few of them, instead of multiplying the load on a struggling server.
 */
export class RetryThrottle {
  private tokens: number;

  constructor(
    readonly maxTokens: number,
    readonly tokenRatio: number,
  ) {
    this.tokens = maxTokens;
  }

  /** A retryable failure. */
  failure(): void {
    this.tokens = Math.max(0, this.tokens - 1);
  }

  /** A successful call. */
  success(): void {
    this.tokens = Math.min(this.maxTokens, this.tokens + this.tokenRatio);
  }

  /** Whether a retry may be made now. */
  get allowsRetry(): boolean {
    return this.tokens > this.maxTokens / 2;
  }

  get tokenCount(): number {
    return this.tokens;
  }
}
