import { status } from '@grpc/grpc-js';

/**
 * Which RPC semantic conventions weft's OpenTelemetry layers (`@weft/tracing`'s spans,
 * `@weft/metrics`' `otelServerMetrics`) follow, during OpenTelemetry's RPC migration
 * (https://opentelemetry.io/docs/specs/semconv/non-normative/rpc-migration/):
 * - `old`: the conventions of semconv v1.37 and before, what weft always emitted (`rpc.system`,
 *   `rpc.service`, `rpc.method` = `Method`, numeric `rpc.grpc.status_code`). The default.
 * - `new`: the stable candidates only (`rpc.system.name`, `rpc.method` = `package.Service/Method`,
 *   string `rpc.status_code`).
 * - `dup`: both, for a phased move of dashboards and alerts.
 */
export type SemconvMode = 'old' | 'new' | 'dup';

/** Bit flags of what to emit, tested with `&` per call (one field read, no string compare). */
export const EMIT_OLD = 1;
export const EMIT_NEW = 2;
export type Emit = number;

/** The environment variable OpenTelemetry's instrumentations read the opt-in from. */
export const SEMCONV_OPT_IN_ENV = 'OTEL_SEMCONV_STABILITY_OPT_IN';

/**
 * The mode `OTEL_SEMCONV_STABILITY_OPT_IN` asks for, parsed as `@opentelemetry/instrumentation`'s
 * `semconvStabilityFromStr('rpc', ...)` parses it for `http`: a comma-separated list, entries
 * trimmed and compared case-insensitively, `rpc/dup` winning over `rpc`, anything else ignored.
 */
export function semconvModeFromEnv(value: string | undefined = process.env[SEMCONV_OPT_IN_ENV]): SemconvMode {
  let mode: SemconvMode = 'old';
  if (value === undefined) return mode;
  for (const raw of value.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === 'rpc/dup') return 'dup';
    if (entry === 'rpc') mode = 'new';
  }
  return mode;
}

/** The option, or the environment when the option is not given, as emit flags: resolved once, at setup. */
export function resolveSemconv(option: SemconvMode | undefined): Emit {
  const mode = option ?? semconvModeFromEnv();
  switch (mode) {
    case 'new':
      return EMIT_NEW;
    case 'dup':
      return EMIT_OLD | EMIT_NEW;
    case 'old':
      return EMIT_OLD;
    default:
      throw new Error(`weft: semconv must be 'old', 'new' or 'dup', got ${JSON.stringify(mode)}`);
  }
}

/**
 * The value of `rpc.status_code` in the new conventions: the code's name in gRPC's status-code
 * table (`OK`, `NOT_FOUND`...), or its number for a code outside it.
 */
export function rpcStatusCode(code: number): string {
  return status[code] ?? String(code);
}
