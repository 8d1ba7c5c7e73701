import type { CallType, MethodInfo } from './method-info';

/**
 * A method key, the one way weft names methods in options: `package.Service/Method` (a leading
 * `/` is accepted: the path), `package.Service` (every method of the service) or `*` (every method).
 */
export type MethodKey = string;

/** Matches methods by name or shape. Each given field must match; a list matches any of its entries. */
export interface MethodMatch {
  /** `package.Service/Method` or the path `/package.Service/Method`. */
  fullMethod?: string | readonly string[];
  /** `package.Service`. */
  service?: string | readonly string[];
  type?: CallType | readonly CallType[];
}

/**
 * Which methods an option applies to, accepted wherever weft selects methods (`selector`, retry's
 * `nonIdempotent`, ...): a method key or a list of them (any may match), a `MethodMatch`, or a
 * predicate. Evaluate it through `toPredicate`, once per method (a `MethodCache`), not per call.
 */
export type MethodMatcher =
  | MethodKey
  | readonly MethodKey[]
  | MethodMatch
  | ((method: MethodInfo) => boolean);

/**
 * Server streams of gRPC infrastructure that a client keeps open for as long as it watches: gRPC
 * health's `Watch` and ORCA's out-of-band load reports (`StreamCoreMetrics`, which grpc-js's
 * `weighted_round_robin` holds per subchannel). A deadline or a limit meant for calls that finish
 * does not fit them: `serverDeadline` leaves them alone by default.
 */
export const INFRASTRUCTURE_STREAMS: readonly MethodKey[] = Object.freeze([
  'grpc.health.v1.Health/Watch',
  'xds.service.orca.v3.OpenRcaService/StreamCoreMetrics',
]);

function asList<T>(value: T | readonly T[] | undefined): readonly T[] | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

const withoutSlash = (key: string) => (key.startsWith('/') ? key.slice(1) : key);

/** Whether `key` names `method` (see `MethodKey`). */
export function keyMatches(key: MethodKey, method: MethodInfo): boolean {
  if (key === '*') return true;
  const name = withoutSlash(key);
  return name.includes('/') ? name === method.fullMethod : name === method.service;
}

/** Turns a matcher into a predicate. Throws a `TypeError` at setup for anything else. */
export function toPredicate(matcher: MethodMatcher): (method: MethodInfo) => boolean {
  if (typeof matcher === 'function') return matcher;
  if (typeof matcher === 'string') return (m) => keyMatches(matcher, m);
  if (Array.isArray(matcher)) {
    const keys = matcher as readonly MethodKey[];
    for (const key of keys) {
      if (typeof key !== 'string')
        throw new TypeError(`a method list holds method keys (strings), got ${typeof key}`);
    }
    return (m) => keys.some((key) => keyMatches(key, m));
  }
  if (typeof matcher !== 'object' || matcher === null) {
    throw new TypeError(
      'a method matcher is a method key, a list of keys, a { fullMethod, service, type } object or a predicate',
    );
  }
  const match = matcher as MethodMatch;
  const full = asList(match.fullMethod)?.map(withoutSlash);
  const services = asList(match.service);
  const types = asList(match.type);
  return (m) =>
    (full === undefined || full.includes(m.fullMethod)) &&
    (services === undefined || services.includes(m.service)) &&
    (types === undefined || types.includes(m.type));
}

/** The complement of a matcher: `selector(rateLimit(...), not({ service: 'grpc.health.v1.Health' }))`. */
export function not(matcher: MethodMatcher): (method: MethodInfo) => boolean {
  const predicate = toPredicate(matcher);
  return (m) => !predicate(m);
}

/**
 * Looks a method up in a record keyed by `MethodKey`s (a per-method policy table): the most
 * specific key wins, `package.Service/Method` (or its path) before `package.Service` before `*`.
 */
export function lookupByMethod<V>(table: Readonly<Record<MethodKey, V>>, method: MethodInfo): V | undefined {
  const own = Object.hasOwn;
  if (own(table, method.fullMethod)) return table[method.fullMethod];
  if (own(table, method.path)) return table[method.path];
  if (own(table, method.service)) return table[method.service];
  return own(table, '*') ? table['*'] : undefined;
}
