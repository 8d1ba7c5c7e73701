import type { PartialStatus, StageHooks } from '@weft/core';

/**
 * The stage hooks of a call that holds something until it ends (a concurrency slot, a deadline
 * timer): `release()` runs when its status goes out and when it is cancelled. grpc-js reports
 * every stream close as a cancel, normal ones after the status too, so `release()` must be
 * idempotent.
 */
export abstract class HeldCall implements StageHooks {
  protected abstract release(): void;

  onCancel(): void {
    this.release();
  }

  onSendStatus(partial: PartialStatus): PartialStatus {
    this.release();
    return partial;
  }
}
