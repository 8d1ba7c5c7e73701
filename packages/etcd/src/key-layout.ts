/**
 * Where registrations live in etcd and what they hold. The registration side and the resolver side
 * both go through this file, so they cannot disagree on the layout.
 *
 * ```
 * <prefix><service>/<instance-id>  ->  {"version":1,"address":"10.0.0.7:50051","metadata":{},"registeredAt":"..."}   weft
 *                                  ->  {"Op":0,"Addr":"10.0.0.7:50051","Metadata":null}                               go-endpoints
 *                                  ->  10.0.0.7:50051                                                                 plain
 * ```
 * with the default prefix `/services/`: `/services/users/3f1c...`. An empty prefix gives Go's usual
 * keys: `endpoints.NewManager(c, "user-service")` writes `user-service/<id>`.
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

/**
 * A prefix that is empty or ends with `/`. The service name is always followed by `/` in keys
 * (`servicePrefix`), so `users` never matches `users-admin` whatever the prefix.
 */
export function normalizePrefix(prefix: string): string {
  if (typeof prefix !== 'string') throw new Error('weft/etcd: the key prefix must be a string');
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
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
 * Parses a weft document; `undefined` for anything that is not a version-1 registration with a
 * usable address. `decodeInstance` reads every layout and says why a value is refused.
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
  if (doc.version !== 1 || typeof doc.address !== 'string' || parseAddress(doc.address) === undefined)
    return undefined;
  return {
    version: 1,
    address: doc.address,
    metadata: stringValues(doc.metadata),
    registeredAt: typeof doc.registeredAt === 'string' ? doc.registeredAt : '',
  };
}

/** The string-valued entries of a JSON object (other values are dropped); `{}` for anything else. */
function stringValues(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}

/**
 * How an instance's value is written:
 * - `weft`: weft's document, `{"version":1,"address":...,"metadata":{...},"registeredAt":...}`;
 * - `go-endpoints`: what etcd's Go `clientv3/naming/endpoints` manager writes and its `etcd:///`
 *   resolver reads, `{"Op":0,"Addr":"host:port","Metadata":...}`;
 * - `plain`: a bare `host:port` (read only).
 */
export type InstanceFormat = 'weft' | 'go-endpoints' | 'plain';

/** What `decodeInstance` read from one value. */
export interface DecodedInstance {
  readonly format: InstanceFormat;
  readonly address: string;
  /** String attributes (weft's `metadata`, the string entries of Go's `Metadata`); `{}` otherwise. */
  readonly metadata: Readonly<Record<string, string>>;
  /** weft documents only; `''` for the other formats. */
  readonly registeredAt: string;
}

export type DecodeResult =
  | { readonly ok: true; readonly instance: DecodedInstance }
  | { readonly ok: false; readonly reason: string };

const MAX_QUOTED = 60;
/** A refused value, quoted and cut short for an error message. */
function quote(raw: string): string {
  return JSON.stringify(raw.length > MAX_QUOTED ? `${raw.slice(0, MAX_QUOTED)}...` : raw);
}

/**
 * Reads any of the three layouts from a stored value, or says why it cannot: a reader reports a
 * refused value with its key rather than dialling garbage or skipping it silently.
 */
export function decodeInstance(raw: string): DecodeResult {
  const text = raw.trim();
  if (text.length === 0) return { ok: false, reason: 'empty value' };
  if (text.startsWith('{') || text.startsWith('"')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { ok: false, reason: `not valid JSON: ${quote(text)}` };
    }
    if (typeof parsed === 'string') return decodePlain(parsed, text);
    return decodeDocument(parsed as Record<string, unknown>, text);
  }
  return decodePlain(text, text);
}

function decodePlain(address: string, raw: string): DecodeResult {
  if (parseAddress(address) === undefined)
    return { ok: false, reason: `not a host:port address: ${quote(raw)}` };
  return { ok: true, instance: { format: 'plain', address, metadata: {}, registeredAt: '' } };
}

function decodeDocument(doc: Record<string, unknown>, raw: string): DecodeResult {
  if ('version' in doc) {
    if (doc.version !== 1)
      return { ok: false, reason: `weft document of unknown version ${JSON.stringify(doc.version)}` };
    const registration = decodeRegistration(raw);
    if (registration === undefined)
      return { ok: false, reason: `weft document without a usable address: ${quote(raw)}` };
    return { ok: true, instance: { format: 'weft', ...registration } };
  }
  if ('Addr' in doc) {
    // endpoints.Manager only ever writes Op 0 (Add): a delete removes the key.
    if (doc.Op !== undefined && doc.Op !== 0)
      return {
        ok: false,
        reason: `Go endpoints document with Op ${JSON.stringify(doc.Op)} (only 0, Add, names an address)`,
      };
    if (typeof doc.Addr !== 'string' || parseAddress(doc.Addr) === undefined)
      return {
        ok: false,
        reason: `Go endpoints document with Addr ${JSON.stringify(doc.Addr)}, not a host:port address`,
      };
    return {
      ok: true,
      instance: {
        format: 'go-endpoints',
        address: doc.Addr,
        metadata: stringValues(doc.Metadata),
        registeredAt: '',
      },
    };
  }
  return { ok: false, reason: `neither a weft nor a Go endpoints document: ${quote(raw)}` };
}

/**
 * The value etcd's Go `endpoints.Manager.AddEndpoint` writes for an endpoint without metadata, byte
 * for byte (Go's `json.Marshal` of `{Op, Addr, Metadata}`), so Go's `etcd:///` resolver reads it.
 * `Metadata` stays `null`: Go's resolver copies it into `resolver.Address.Metadata`, and grpc-go's
 * round_robin (1.33, Debian's) keys a map by address, so a JSON object there panics the Go client
 * ("hash of unhashable type map[string]interface {}"; test/interop shows it).
 */
export function encodeGoEndpoint(address: string): string {
  return JSON.stringify({ Op: 0, Addr: address, Metadata: null });
}

/** A dialable address: `{ host, port }` for `host:port` / `[v6]:port`, `{ path }` for `unix:`. */
export type ParsedAddress = { readonly host: string; readonly port: number } | { readonly path: string };

/** Parses a registered address, or `undefined` if a channel could not dial it. */
export function parseAddress(address: string): ParsedAddress | undefined {
  if (address.startsWith('unix:')) {
    // unix:///abs/path and unix:relative/path, as gRPC names them.
    const rest = address.slice('unix:'.length);
    const path = rest.startsWith('//') ? rest.slice(2) : rest;
    return path.length > 0 ? { path } : undefined;
  }
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return undefined;
  let host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (host.startsWith('[')) {
    if (!host.endsWith(']') || host.length < 3) return undefined;
    host = host.slice(1, -1);
  } else if (host.includes(':')) {
    return undefined; // a bare IPv6 address needs brackets
  }
  if (!/^[0-9]{1,5}$/.test(portText) || /[\s/[\]]/.test(host)) return undefined;
  const port = Number(portText);
  return port >= 1 && port <= 65535 ? { host, port } : undefined;
}
