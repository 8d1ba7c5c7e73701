import type * as grpc from '@grpc/grpc-js';
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

function perSubject(limits: LiveLimits): grpc.ServerInterceptor {
  return rateLimit({
    rules: [{ name: 'per-subject', rate: limits.rateLimitRps, burst: limits.rateLimitBurst, key: 'subject' }],
  });
}

/**
 * The per-subject rate limit, replaceable while the server runs (from a watched etcd key). A new
 * document builds a new limiter: buckets start full again, which errs on the side of admitting.
 */
export class LiveRateLimit {
  private current: grpc.ServerInterceptor;
  readonly interceptor: grpc.ServerInterceptor = (definition, call) => this.current(definition, call);

  constructor(initial: LimitsConfig) {
    this.current = perSubject(initial);
  }

  update(limits: LiveLimits): void {
    this.current = perSubject(limits);
  }
}
