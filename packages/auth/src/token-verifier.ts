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

/** Maps jsonwebtoken's errors to what the caller is told; unknown errors say only "invalid". */
function rejectionFor(error: unknown): AuthRejection {
  if (!(error instanceof Error)) return rejections.invalid;
  if (error.name === 'TokenExpiredError') {
    return error.message === 'maxAge exceeded' ? rejections.tooOld : rejections.expired;
  }
  if (error.name === 'NotBeforeError') return rejections.notYetValid;
  const message = error.message;
  if (message === 'invalid signature') return rejections.signature;
  if (message.startsWith('jwt audience invalid')) return rejections.audience;
  if (message.startsWith('jwt issuer invalid')) return rejections.issuer;
  if (message === 'invalid algorithm' || message.startsWith('secretOrPublicKey must be')) {
    return rejections.algorithm;
  }
  if (message === 'iat required when maxAge is specified') return missingClaim('iat');
  // The header parsed already, so a JSON error here is the payload's.
  if (error.name === 'SyntaxError') return rejections.notObject;
  if (message === 'jwt malformed' || message === 'invalid token') return rejections.malformed;
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
      if (cached.until > Date.now()) return cached.identity;
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
      payload = jwt.verify(token, key.key, this.optionsFor(key));
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
    let until = Math.min(identity.expiresAt ?? Date.now() + NO_EXPIRY_CACHE_MS, keyTrustedUntil ?? Infinity);
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
