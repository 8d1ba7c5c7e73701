import { createPublicKey, createSecretKey, type JsonWebKey, KeyObject } from 'node:crypto';
import { check, resolveOptions } from '@weft/core';
import type { Algorithm } from 'jsonwebtoken';
import type * as JwksRsa from 'jwks-rsa';

/**
 * `jwks-rsa` (with jose and lru-cache, 3.6 MB) is loaded when the first JWKS key ring is built, not
 * when `@weft/auth` is imported: HS256-only servers and client-only users never load it. A plain
 * `require` at setup keeps this synchronous (a missing package fails `jwtAuth()`, not a call) and
 * works for CommonJS and ESM consumers alike, since the package is built as CommonJS.
 */
function loadJwksRsa(): typeof JwksRsa {
  return require('jwks-rsa') as typeof JwksRsa;
}

/** One verification key given up front. Exactly one of `secret` and `publicKey`. */
export interface StaticKey {
  /** Matched against the token header's `kid`. Required when several keys are given. */
  kid?: string;
  /** HMAC secret for HS256/384/512 (at least 32 bytes recommended). */
  secret?: string | Buffer | KeyObject;
  /** Public key for RS*, PS* or ES*: PEM, a `KeyObject`, or a JWK. */
  publicKey?: string | Buffer | KeyObject | JsonWebKey;
  /** Tokens verified with this key must carry this issuer (ties the key to one issuer). */
  issuer?: string;
}

/** Keys fetched from a JWKS endpoint with `jwks-rsa`. */
export interface JwksSource {
  jwksUri: string;
  /** How long a fetched key is trusted before it is fetched again, by `jwtAuth`'s `now` clock. Default 10 minutes. */
  cacheMaxAgeMs?: number;
  /** At most this many fetches per minute, however many unknown `kid`s arrive. Default 10. */
  requestsPerMinute?: number;
  /** HTTP timeout of one fetch. Default 5000 ms. */
  timeoutMs?: number;
  /** Tokens verified with these keys must carry this issuer. */
  issuer?: string;
}

export type KeySource = StaticKey | readonly StaticKey[] | JwksSource;

/** A key ready for `jsonwebtoken.verify`: material parsed once, algorithms narrowed to its family. */
export interface PreparedKey {
  readonly kid: string | undefined;
  readonly key: KeyObject;
  readonly algorithms: Algorithm[];
  readonly issuer: string | undefined;
  /** Fetched keys stop being trusted at this time (ms); tokens verified with them are re-checked then. */
  readonly trustedUntil?: number;
}

const HS: Algorithm[] = ['HS256', 'HS384', 'HS512'];
const RS: Algorithm[] = ['RS256', 'RS384', 'RS512'];
const PS: Algorithm[] = ['PS256', 'PS384', 'PS512'];
const EC_BY_CURVE: Record<string, Algorithm> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
};

/** The algorithms a key can verify: one family per key, so a public key can never act as an HMAC secret. */
function keyFamily(key: KeyObject): Algorithm[] {
  if (key.type === 'secret') return HS;
  if (key.type !== 'public') throw new Error('weft/auth: verification keys must be secrets or public keys');
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return [...RS, ...PS];
    case 'rsa-pss':
      return PS;
    case 'ec': {
      const alg = EC_BY_CURVE[key.asymmetricKeyDetails?.namedCurve ?? ''];
      if (alg !== undefined) return [alg];
      break;
    }
  }
  throw new Error(
    `weft/auth: unsupported key type ${key.asymmetricKeyType ?? 'unknown'} (jsonwebtoken verifies HS*, RS*, PS*, ES*)`,
  );
}

export function prepareKey(
  key: KeyObject,
  allowed: readonly Algorithm[],
  kid: string | undefined,
  issuer: string | undefined,
): PreparedKey {
  const algorithms = keyFamily(key).filter((alg) => allowed.includes(alg));
  if (algorithms.length === 0) {
    throw new Error(
      `weft/auth: key ${kid ?? '(no kid)'} cannot verify any of the allowed algorithms ${allowed.join(', ')}`,
    );
  }
  return Object.freeze({ kid, key, algorithms, issuer });
}

function toKeyObject(key: StaticKey): KeyObject {
  if ((key.secret === undefined) === (key.publicKey === undefined)) {
    throw new Error('weft/auth: each key needs exactly one of `secret` and `publicKey`');
  }
  if (key.secret !== undefined) {
    if (key.secret instanceof KeyObject) {
      if (key.secret.type !== 'secret') throw new Error('weft/auth: `secret` must be a secret key');
      return key.secret;
    }
    if (key.secret.length === 0) throw new Error('weft/auth: `secret` is empty');
    return createSecretKey(typeof key.secret === 'string' ? Buffer.from(key.secret) : key.secret);
  }
  const pub = key.publicKey;
  if (pub instanceof KeyObject) {
    if (pub.type === 'private') return createPublicKey(pub);
    return pub;
  }
  if (typeof pub === 'string' || Buffer.isBuffer(pub)) return createPublicKey(pub);
  return createPublicKey({ key: pub as JsonWebKey, format: 'jwk' });
}

/** Finds the key for a token: synchronously when it is known, asynchronously when it must be fetched. */
export interface KeyRing {
  /** The key for `kid`, `undefined` when there is none, or `null` when it may exist but must be fetched. */
  find(kid: string | undefined): PreparedKey | undefined | null;
  /** Fetches the key for `kid`; rejects with `KeysUnavailableError` when the key set cannot be read. */
  fetch(kid: string | undefined): Promise<PreparedKey | undefined>;
}

export class KeysUnavailableError extends Error {
  constructor(cause: unknown) {
    super('signing keys unavailable', { cause });
    this.name = 'KeysUnavailableError';
  }
}

class StaticKeyRing implements KeyRing {
  private readonly byKid = new Map<string, PreparedKey>();
  private readonly only: PreparedKey | undefined;
  constructor(keys: readonly StaticKey[], allowed: readonly Algorithm[]) {
    if (keys.length === 0) throw new Error('weft/auth: `keys` is empty');
    if (keys.length > 1 && keys.some((k) => k.kid === undefined)) {
      throw new Error('weft/auth: with several keys, every key needs a `kid`');
    }
    const prepared = keys.map((key) => prepareKey(toKeyObject(key), allowed, key.kid, key.issuer));
    for (const key of prepared) if (key.kid !== undefined) this.byKid.set(key.kid, key);
    this.only = prepared.length === 1 ? prepared[0] : undefined;
  }
  find(kid: string | undefined): PreparedKey | undefined {
    if (kid === undefined) return this.only;
    return this.byKid.get(kid) ?? (this.only?.kid === undefined ? this.only : undefined);
  }
  fetch(kid: string | undefined): Promise<PreparedKey | undefined> {
    return Promise.resolve(this.find(kid));
  }
}

/** A JWKS source's defaults; `jwksUri` is required. */
export const JWKS_DEFAULTS: Readonly<JwksSource> = Object.freeze({
  jwksUri: undefined as unknown as string,
  /** Ten minutes. */
  cacheMaxAgeMs: 600_000,
  requestsPerMinute: 10,
  timeoutMs: 5000,
  /** Not tied to an issuer (the `issuer` option of `jwtAuth` still applies). */
  issuer: undefined,
});

interface KnownKey {
  readonly key: PreparedKey;
  readonly until: number;
}

/**
 * Keys from a JWKS endpoint. `jwks-rsa` fetches and rate-limits refetches on unknown `kid`; this
 * ring keeps the parsed keys, so a known `kid` is found without a promise, and forgets them after
 * `cacheMaxAgeMs` by its clock (`jwtAuth`'s `now`), so a key removed by rotation stops verifying.
 * jwks-rsa's own cache is off: it keeps time by the system clock, and it would hand a key this ring
 * has stopped trusting straight back. Concurrent fetches of one `kid` share one request instead.
 */
class JwksKeyRing implements KeyRing {
  private readonly jwks = loadJwksRsa();
  private readonly client: JwksRsa.JwksClient;
  private readonly known = new Map<string, KnownKey>();
  private readonly inFlight = new Map<string, Promise<PreparedKey | undefined>>();
  private readonly source: Readonly<JwksSource>;
  constructor(
    source: JwksSource,
    private readonly allowed: readonly Algorithm[],
    private readonly now: () => number,
  ) {
    this.source = resolveOptions('jwtAuth keys (JWKS)', JWKS_DEFAULTS, source, {
      jwksUri: (uri) => (typeof uri === 'string' && uri.length > 0 ? undefined : 'is required: the JWKS URL'),
      cacheMaxAgeMs: check.positive,
      requestsPerMinute: check.positive,
      timeoutMs: check.positive,
      issuer: check.string,
    });
    this.client = new this.jwks.JwksClient({
      jwksUri: this.source.jwksUri,
      cache: false,
      rateLimit: true,
      jwksRequestsPerMinute: this.source.requestsPerMinute,
      timeout: this.source.timeoutMs,
    });
  }
  find(kid: string | undefined): PreparedKey | undefined | null {
    const entry = this.known.get(kid ?? '');
    if (entry === undefined || entry.until < this.now()) return null;
    return entry.key;
  }
  fetch(kid: string | undefined): Promise<PreparedKey | undefined> {
    const id = kid ?? '';
    let pending = this.inFlight.get(id);
    if (pending === undefined) {
      pending = this.load(kid).finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, pending);
    }
    return pending;
  }
  private async load(kid: string | undefined): Promise<PreparedKey | undefined> {
    const id = kid ?? '';
    let publicKey: string;
    try {
      publicKey = (await this.client.getSigningKey(kid)).getPublicKey();
    } catch (error) {
      // An unknown kid (or one we may not refetch for yet) is the token's problem; anything else is ours.
      if (error instanceof this.jwks.SigningKeyNotFoundError) {
        this.known.delete(id); // rotated out: stop trusting it now
        return undefined;
      }
      if (error instanceof this.jwks.JwksRateLimitError) return undefined;
      throw new KeysUnavailableError(error);
    }
    let key: PreparedKey;
    const until = this.now() + (this.source.cacheMaxAgeMs as number);
    try {
      key = Object.freeze({
        ...prepareKey(createPublicKey(publicKey), this.allowed, kid, this.source.issuer),
        trustedUntil: until,
      });
    } catch {
      return undefined; // a key of a family we do not accept verifies nothing
    }
    if (this.known.size >= 1000) this.known.clear();
    this.known.set(id, { key, until });
    return key;
  }
}

export function keyRing(source: KeySource, allowed: readonly Algorithm[], now: () => number): KeyRing {
  if ('jwksUri' in source) return new JwksKeyRing(source, allowed, now);
  return new StaticKeyRing(Array.isArray(source) ? source : [source as StaticKey], allowed);
}
