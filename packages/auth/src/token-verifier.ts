import jwt, { type JwtPayload, type VerifyOptions } from 'jsonwebtoken';
import type { AuthIdentity } from './identity';
import type { KeyRing, PreparedKey } from './keys';
import type { ResolvedAuthOptions } from './options';
import { type AuthRejection, missingClaim, rejections } from './rejection';

/** Three base64url segments, nothing else: padding, spaces and a fourth part are all malformed. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Tokens without `exp` (allowed only with `requireExpiry: false`) stay cached this long. */
const NO_EXPIRY_CACHE_MS = 60_000;

interface TokenHeader {
  readonly alg: string;
  readonly kid: string | undefined;
}

interface CacheEntry {
  readonly identity: AuthIdentity;
  /** The entry is dropped at this time (ms): never later than the token's `exp`. */
  readonly until: number;
}

export type Verification = AuthIdentity | AuthRejection;

export function isRejection(value: Verification): value is AuthRejection {
  return (value as AuthRejection).code !== undefined;
}

function parseHeader(token: string): TokenHeader | AuthRejection {
  if (!COMPACT_JWS.test(token)) return rejections.malformed;
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8'));
  } catch {
    return rejections.malformed;
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return rejections.malformed;
  const { alg, kid, crit } = header as Record<string, unknown>;
  if (typeof alg !== 'string' || (kid !== undefined && typeof kid !== 'string')) return rejections.malformed;
  // RFC 7515 4.1.11: a critical extension we do not implement means the token must be refused.
  if (crit !== undefined) return rejections.crit;
  return { alg, kid };
}

function stringSet(value: unknown): Set<string> {
  if (typeof value === 'string') return new Set(value.split(' ').filter((s) => s.length > 0));
  if (Array.isArray(value)) return new Set(value.filter((s): s is string => typeof s === 'string'));
  return new Set();
}

const missingIat = missingClaim('iat');

/**
 * What each `JsonWebTokenError` that jsonwebtoken 9's `verify()` can throw means to the caller.
 * jsonwebtoken gives its errors a class (`TokenExpiredError`, `NotBeforeError`) only for the time
 * checks; everything else is a `JsonWebTokenError` told apart by its message alone, so this table is
 * the whole list of them (a `prefix` message is followed by details, e.g. the expected audience).
 * `test/jwt-errors.test.ts` pins it against the installed jsonwebtoken: every message its
 * `verify.js` can throw must be here, and each failure, produced for real, must map as listed. An
 * upstream rewording thus fails that test instead of silently turning a reason into "invalid".
 * Errors about our own options (never expected: weft sets them) map to `invalid`.
 */
export const JWT_ERROR_MESSAGES: readonly (readonly [
  message: string,
  rejection: AuthRejection,
  match?: 'prefix',
])[] = [
  ['jwt must be provided', rejections.malformed],
  ['jwt must be a string', rejections.malformed],
  ['jwt malformed', rejections.malformed],
  ['invalid token', rejections.malformed],
  ['jwt signature is required', rejections.malformed],
  ['invalid algorithm', rejections.algorithm],
  ['please specify "none" in "algorithms" to verify unsigned tokens', rejections.algorithm],
  ['secretOrPublicKey must be a symmetric key when using ', rejections.algorithm, 'prefix'],
  ['secretOrPublicKey must be an asymmetric key when using ', rejections.algorithm, 'prefix'],
  ['invalid signature', rejections.signature],
  ['jwt audience invalid. expected: ', rejections.audience, 'prefix'],
  ['jwt issuer invalid. expected: ', rejections.issuer, 'prefix'],
  ['iat required when maxAge is specified', missingIat],
  // A claim of the wrong type: jsonwebtoken says no more than that.
  ['invalid nbf value', rejections.invalid],
  ['invalid exp value', rejections.invalid],
  // Checks weft does not ask for (subject, jwtid, nonce) and errors in its own options or keys.
  ['jwt subject invalid. expected: ', rejections.invalid, 'prefix'],
  ['jwt jwtid invalid. expected: ', rejections.invalid, 'prefix'],
  ['jwt nonce invalid. expected: ', rejections.invalid, 'prefix'],
  ['clockTimestamp must be a number', rejections.invalid],
  ['nonce must be a non-empty string', rejections.invalid],
  ['allowInvalidAsymmetricKeyTypes must be a boolean', rejections.invalid],
  [
    'verify must be called asynchronous if secret or public key is provided as a callback',
    rejections.invalid,
  ],
  ['error in secret or public key callback: ', rejections.invalid, 'prefix'],
  ['secret or public key must be provided', rejections.invalid],
  ['secretOrPublicKey is not valid key material', rejections.invalid],
  [
    '"maxAge" should be a number of seconds or string representing a timespan eg: "1d", "20h", 60',
    rejections.invalid,
  ],
];

/** `TokenExpiredError` covers two checks, told apart (again) only by the message. */
export const JWT_EXPIRED_MESSAGES: readonly (readonly [message: string, rejection: AuthRejection])[] = [
  ['jwt expired', rejections.expired],
  ['maxAge exceeded', rejections.tooOld],
];

const exactMessages = new Map<string, AuthRejection>();
const prefixMessages: (readonly [string, AuthRejection])[] = [];
for (const [message, rejection, match] of JWT_ERROR_MESSAGES) {
  if (match === 'prefix') prefixMessages.push([message, rejection]);
  else exactMessages.set(message, rejection);
}
const expiredMessages = new Map(JWT_EXPIRED_MESSAGES);

/** The rejection a `JsonWebTokenError` message stands for; `undefined` for a message not in the table. */
export function jwtMessageRejection(message: string): AuthRejection | undefined {
  const exact = exactMessages.get(message);
  if (exact !== undefined) return exact;
  for (const [prefix, rejection] of prefixMessages) if (message.startsWith(prefix)) return rejection;
  return undefined;
}

/**
 * Maps what `jwt.verify` threw to what the caller is told: by class where jsonwebtoken has one,
 * else by the pinned message table; anything unknown says only "invalid".
 */
export function rejectionFor(error: unknown): AuthRejection {
  // Subclasses first: both extend JsonWebTokenError.
  if (error instanceof jwt.TokenExpiredError) return expiredMessages.get(error.message) ?? rejections.expired;
  if (error instanceof jwt.NotBeforeError) return rejections.notYetValid;
  if (error instanceof jwt.JsonWebTokenError) return jwtMessageRejection(error.message) ?? rejections.invalid;
  // jws parses the payload of a `typ: JWT` token itself and lets JSON.parse's error through; the
  // header parsed already (parseHeader), so this one is the payload's.
  if (error instanceof SyntaxError) return rejections.notObject;
  return rejections.invalid;
}

/**
 * Verifies compact JWS tokens with prepared keys and remembers the result per token (bounded,
 * never past `exp`), so a client reusing its token costs one map lookup per call.
 */
export class TokenVerifier {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly verifyOptions = new WeakMap<PreparedKey, VerifyOptions>();

  constructor(
    private readonly options: ResolvedAuthOptions,
    private readonly keys: KeyRing,
  ) {}

  verify(token: string): Verification | Promise<Verification> {
    const cached = this.cache.get(token);
    if (cached !== undefined) {
      if (cached.until > this.options.now()) return cached.identity;
      this.cache.delete(token);
    }
    if (token.length > this.options.maxTokenBytes) return rejections.oversized;
    const header = parseHeader(token);
    if (isRejection(header as Verification)) return header as AuthRejection;
    const { alg, kid } = header as TokenHeader;
    if (!this.options.algorithms.includes(alg as never)) return rejections.algorithm;
    const key = this.keys.find(kid);
    if (key !== null) return this.check(token, alg, kid, key);
    return this.keys.fetch(kid).then(
      (fetched) => this.check(token, alg, kid, fetched),
      () => rejections.keysUnavailable,
    );
  }

  private check(
    token: string,
    alg: string,
    kid: string | undefined,
    key: PreparedKey | undefined,
  ): Verification {
    if (key === undefined) return kid === undefined ? rejections.missingKid : rejections.unknownKid;
    // The key's own family decides: an RSA public key never verifies an HS256 token.
    if (!key.algorithms.includes(alg as never)) return rejections.algorithm;
    let payload: string | JwtPayload;
    try {
      // jsonwebtoken reads the system clock unless told the time: tell it ours (`now`).
      payload = jwt.verify(token, key.key, {
        ...this.optionsFor(key),
        clockTimestamp: Math.floor(this.options.now() / 1000),
      });
    } catch (error) {
      return rejectionFor(error);
    }
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
      return rejections.notObject;
    if (this.options.requireExpiry && payload.exp === undefined) return rejections.noExpiry;
    for (const claim of this.options.requiredClaims) {
      if (payload[claim] === undefined) return missingClaim(claim);
    }
    const identity = this.identity(payload);
    this.remember(token, identity, payload, key.trustedUntil);
    return identity;
  }

  private identity(claims: JwtPayload): AuthIdentity {
    const scopes = stringSet(claims[this.options.scopeClaim]);
    if (this.options.scopeClaim === 'scope') for (const s of stringSet(claims.scp)) scopes.add(s);
    return Object.freeze({
      subject: typeof claims.sub === 'string' ? claims.sub : undefined,
      claims: Object.freeze(claims),
      scopes,
      roles: stringSet(claims[this.options.rolesClaim]),
      expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : undefined,
    });
  }

  private remember(
    token: string,
    identity: AuthIdentity,
    claims: JwtPayload,
    keyTrustedUntil?: number,
  ): void {
    const max = this.options.cacheSize;
    if (max === 0) return;
    // Never past the token's exp, nor past the trust in a fetched key (rotation removes keys).
    let until = Math.min(
      identity.expiresAt ?? this.options.now() + NO_EXPIRY_CACHE_MS,
      keyTrustedUntil ?? Infinity,
    );
    const maxAge = this.options.maxTokenAgeSeconds;
    if (maxAge !== undefined && typeof claims.iat === 'number')
      until = Math.min(until, (claims.iat + maxAge) * 1000);
    if (this.cache.size >= max) {
      // Oldest first: Map keeps insertion order, so the first key is the least recently added.
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    this.cache.set(token, { identity, until });
  }

  private optionsFor(key: PreparedKey): VerifyOptions {
    let options = this.verifyOptions.get(key);
    if (options === undefined) {
      const o = this.options;
      options = {
        algorithms: key.algorithms,
        issuer: key.issuer ?? o.issuer,
        audience: o.audience,
        clockTolerance: o.clockToleranceSeconds,
        maxAge: o.maxTokenAgeSeconds,
      };
      this.verifyOptions.set(key, options);
    }
    return options;
  }
}
