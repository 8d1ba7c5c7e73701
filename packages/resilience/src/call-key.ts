import { type CallContext, subjectKey } from '@weft/core';

/**
 * What a limit's counters are keyed on:
 * - `'global'`: one counter for the whole server (or every server sharing a store);
 * - `'method'`: one per method;
 * - `'subject'`: one per authenticated subject (see the limit's `subject` option), falling back to
 *   the peer address for calls without one;
 * - `'peer'`: one per client address (the port is dropped, so one host is one key);
 * - a function of the call's context for anything else (a tenant header, an API key...).
 */
export type CallKey = 'global' | 'method' | 'subject' | 'peer' | ((context: CallContext) => string);

/** Setup check of a `CallKey` option. */
export function callKey(key: CallKey | undefined): string | undefined {
  if (key === undefined || typeof key === 'function') return undefined;
  return ['global', 'method', 'subject', 'peer'].includes(key)
    ? undefined
    : "must be 'global', 'method', 'subject', 'peer' or a function";
}

/** Reads the authenticated subject of a call; `undefined` when it has none. */
export type SubjectLookup = (context: CallContext) => string | undefined;

/**
 * The default subject lookup: the subject the authentication layer put on the call's context
 * (`subjectKey` of `@weft/core`, which `@weft/auth`'s `jwtAuth` sets). Without one, `'subject'`
 * keys fall back to the peer.
 */
export const contextSubject: SubjectLookup = (context) => context.get(subjectKey);

/** Drops the port from a grpc-js peer string (`ipv4:10.0.0.1:5555`, `[::1]:5555`), keeps anything else. */
export function peerHost(peer: string): string {
  const colon = peer.lastIndexOf(':');
  if (colon <= 0 || colon + 1 === peer.length) return peer;
  for (let i = colon + 1; i < peer.length; i++) {
    const c = peer.charCodeAt(i);
    if (c < 48 || c > 57) return peer;
  }
  return peer.slice(0, colon);
}

/** The caller's host: the connection's address, or the peer string without its port. */
function peerOf(context: CallContext): string {
  return context.remoteAddress ?? peerHost(context.peer);
}

export interface KeyFunction {
  /** `global`, `method`, `subject`, `peer` or `custom`: the `keyClass` of limit signals. */
  readonly keyClass: string;
  readonly keyOf: (context: CallContext) => string;
}

/** Most keys `keyed` remembers; past it, keys are built per call (still correct, just not cached). */
const MAX_CACHED_KEYS = 10_000;

/**
 * `prefix + part`, remembered per `part`. Subjects (from the token cache) and peer addresses
 * (from the connection) are the same string objects call after call, whose hash V8 keeps; a key
 * concatenated per call is a new string the bucket lookup must flatten and hash every time.
 */
function keyed(prefix: string): (part: string) => string {
  const keys = new Map<string, string>();
  return (part) => {
    let key = keys.get(part);
    if (key === undefined) {
      key = prefix + part;
      if (keys.size < MAX_CACHED_KEYS) keys.set(part, key);
    }
    return key;
  };
}

/** Builds, once at setup, the function that turns a call into its counter key, prefixed with `name`. */
export function keyFunction(name: string, key: CallKey, subject: SubjectLookup): KeyFunction {
  const prefix = `${name}|`;
  const peerKey = keyed(`${prefix}p:`);
  const subjectKeyOf = keyed(`${prefix}s:`);
  if (typeof key === 'function') return { keyClass: 'custom', keyOf: (context) => prefix + key(context) };
  switch (key) {
    case 'global':
      return { keyClass: key, keyOf: () => name };
    case 'method':
      return { keyClass: key, keyOf: (context) => prefix + context.method.path };
    case 'peer':
      return { keyClass: key, keyOf: (context) => peerKey(peerOf(context)) };
    case 'subject':
      return {
        keyClass: key,
        keyOf: (context) => {
          const who = subject(context);
          return who === undefined ? peerKey(peerOf(context)) : subjectKeyOf(who);
        },
      };
    default:
      throw new RangeError(`limit "${name}": unknown key ${String(key)}`);
  }
}
