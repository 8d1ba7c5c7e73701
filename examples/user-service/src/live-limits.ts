import { type ServerStage, type StagedServerInterceptor, stagedInterceptor } from '@weft/core';
import { rateLimit } from '@weft/resilience';
import type { LimitsConfig } from './config';

/** The live limits document at ETCD_CONFIG_KEY: `{ "rateLimitRps": 50, "rateLimitBurst": 100 }`. */
export interface LiveLimits {
  rateLimitRps: number;
  rateLimitBurst: number;
}

/** Validates a limits document; throws with what is wrong, so watchConfig keeps the previous one. */
export function parseLiveLimits(json: unknown): LiveLimits {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new Error('limits must be a JSON object');
  const { rateLimitRps, rateLimitBurst } = json as Record<string, unknown>;
  for (const [name, value] of Object.entries({ rateLimitRps, rateLimitBurst })) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new Error(`${name} must be a positive number, got ${JSON.stringify(value)}`);
    }
  }
  return { rateLimitRps: rateLimitRps as number, rateLimitBurst: rateLimitBurst as number };
}

/** The stage of a per-subject rate limit (one rule: its interceptor has exactly one stage). */
function perSubject(limits: LiveLimits): ServerStage {
  const [stage] = rateLimit({
    rules: [{ name: 'per-subject', rate: limits.rateLimitRps, burst: limits.rateLimitBurst, key: 'subject' }],
  }).stages;
  if (stage === undefined) throw new Error('rateLimit() has no stage');
  return stage;
}

/**
 * The per-subject rate limit, replaceable while the server runs (from a watched etcd key). A new
 * document builds a new limiter: buckets start full again, which errs on the side of admitting.
 * A stage that hands each call to the current limiter's stage, so the preset still folds it.
 */
export class LiveRateLimit {
  private current: ServerStage;
  readonly interceptor: StagedServerInterceptor = stagedInterceptor({
    start: (call, stage) => this.current.start(call, stage),
  });

  constructor(initial: LimitsConfig) {
    this.current = perSubject(initial);
  }

  update(limits: LiveLimits): void {
    this.current = perSubject(limits);
  }
}
