/**
 * Where registrations live in etcd and what they hold. The registration side and the resolver side
 * both go through this file, so they cannot disagree on the layout.
 *
 * ```
 * <prefix><service>/<instance-id>  ->  {"version":1,"address":"10.0.0.7:50051","metadata":{},"registeredAt":"..."}
 * ```
 * with the default prefix `/services/`: `/services/users/3f1c...`.
 */

/** The default key prefix for registrations. */
export const DEFAULT_PREFIX = '/services/';

/** The JSON document stored under an instance key. */
export interface Registration {
  /** Layout version; readers ignore documents with a version they do not know. */
  readonly version: 1;
  /** `host:port` that clients dial. */
  readonly address: string;
  /** Free-form string attributes of the instance (zone, version...). */
  readonly metadata: Readonly<Record<string, string>>;
  /** ISO 8601 time the current lease wrote this document (it changes on re-registration). */
  readonly registeredAt: string;
}

/** A prefix that ends with exactly one `/`, so `users` never matches `users-admin`. */
export function normalizePrefix(prefix: string): string {
  if (prefix.length === 0) throw new Error('weft/etcd: the key prefix must not be empty');
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** Checks a service name or instance id: one non-empty key segment. */
export function checkSegment(what: string, value: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('/')) {
    throw new Error(
      `weft/etcd: ${what} must be a non-empty string without '/', got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The prefix under which every instance of `service` is registered: `<prefix><service>/`. */
export function servicePrefix(prefix: string, service: string): string {
  return `${normalizePrefix(prefix)}${checkSegment('service name', service)}/`;
}

/** The key of one instance: `<prefix><service>/<instanceId>`. */
export function instanceKey(prefix: string, service: string, instanceId: string): string {
  return `${servicePrefix(prefix, service)}${checkSegment('instance id', instanceId)}`;
}

export function encodeRegistration(registration: Registration): string {
  return JSON.stringify(registration);
}

/**
 * Parses a stored document; `undefined` for anything that is not a version-1 registration with a
 * usable address (a reader skips it rather than dialling garbage).
 */
export function decodeRegistration(raw: string): Registration | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const doc = parsed as Record<string, unknown>;
  if (doc.version !== 1 || typeof doc.address !== 'string' || doc.address.length === 0) return undefined;
  const metadata: Record<string, string> = {};
  if (typeof doc.metadata === 'object' && doc.metadata !== null) {
    for (const [k, v] of Object.entries(doc.metadata)) if (typeof v === 'string') metadata[k] = v;
  }
  return {
    version: 1,
    address: doc.address,
    metadata,
    registeredAt: typeof doc.registeredAt === 'string' ? doc.registeredAt : '',
  };
}
