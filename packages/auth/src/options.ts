import {
  type CallContext,
  check,
  lookupByMethod,
  MethodCache,
  type MethodInfo,
  type MethodKey,
  type MethodMatcher,
  type OptionCheck,
  OptionError,
  resolveOptions,
  toPredicate,
} from '@weft/core';
import type { Algorithm } from 'jsonwebtoken';
import type { CertificateFiles } from './certificate-files';
import type { AuthIdentity, PeerIdentity, PeerIdentitySource } from './identity';
import type { KeySource } from './keys';

/**
 * Which credentials a method needs when `jwtAuth` (the end user's token) and `peerIdentity` (the
 * workload's client certificate) both guard it:
 * - `both`: a valid token and a verified client certificate;
 * - `either`: one of them (a credential that is presented is still verified: a bad token fails);
 * - `jwt`: the token (`peerIdentity` does not require a certificate);
 * - `peer`: the client certificate (`jwtAuth` does not require a token).
 * Each check fails closed: `jwtAuth` alone with `peer` or `either` admits a call without a token
 * only if a `peerIdentity` layer before it put a verified workload on the call.
 */
export type CredentialsRequirement = 'both' | 'either' | 'jwt' | 'peer';

/**
 * What one method requires. Scopes: all of them; roles: any one of them; `peers` /
 * `trustDomains`: the calling workload must match one entry of either list. One policy map may
 * serve both `jwtAuth` and `peerIdentity`: each reads the fields it knows.
 */
export interface MethodPolicy {
  /** No credentials needed (identity metadata is still stripped). */
  public?: boolean;
  /** Every one of these scopes must be granted. */
  scopes?: readonly string[];
  /** At least one of these roles must be held. */
  roles?: readonly string[];
  /** Workload identities allowed (exact `PeerIdentity.id`, e.g. `spiffe://prod.example/ns/web/sa/frontend`). */
  peers?: readonly string[];
  /** SPIFFE trust domains whose workloads are allowed (e.g. `prod.example`). */
  trustDomains?: readonly string[];
  /**
   * Which credentials the method needs. Default: each interceptor requires its own (`jwtAuth` a
   * token; `peerIdentity` a certificate unless `requireClientCertificate: false`), so both together
   * mean `both`.
   */
  credentials?: CredentialsRequirement;
}

/**
 * A per-method policy table, keyed by `MethodKey`: `pkg.Service/Method` or its path
 * `/pkg.Service/Method` (one method), `pkg.Service` (every method of the service) or `*` (every
 * method). The most specific key wins: method, then service, then `*`.
 */
export type MethodPolicies = Readonly<Record<MethodKey, MethodPolicy>>;

const NO_POLICY: MethodPolicy = Object.freeze({});

/** The policy for `method` (see `MethodPolicies`); `{}` if none. Call once per method and cache. */
export function findPolicy(policy: MethodPolicies, method: MethodInfo): MethodPolicy {
  return lookupByMethod(policy, method) ?? NO_POLICY;
}

/**
 * One interceptor's resolved policy per method (jwtAuth's and peerIdentity's), in core's bounded
 * `MethodCache`: `resolve` gets the method's `MethodPolicy` and whether it is public (its policy
 * says so, or `publicMethods` matches it).
 */
export function policyCache<P>(
  o: { readonly policy: MethodPolicies; readonly isPublic: (method: MethodInfo) => boolean },
  resolve: (given: MethodPolicy, isPublic: boolean) => P,
): MethodCache<P> {
  return new MethodCache((method) => {
    const given = findPolicy(o.policy, method);
    return resolve(given, given.public === true || o.isPublic(method));
  });
}

export interface JwtAuthOptions {
  /** Verification keys: one static key, several selected by `kid`, or a JWKS endpoint. Required. */
  keys: KeySource;
  /** Algorithms accepted, never empty, never `none`. Each key is further narrowed to its own family. Required. */
  algorithms: readonly Algorithm[];
  /** Accepted `iss` value(s). Default: not checked (set it in production). */
  issuer?: string | readonly string[];
  /** Accepted `aud` value(s). Default: not checked (set it in production). */
  audience?: string | readonly string[];
  /** Slack for `exp`/`nbf`/`iat` between clocks, in seconds. Default 60 (as Envoy). */
  clockToleranceSeconds?: number;
  /** Refuse tokens issued (`iat`) longer ago than this, in seconds. Default: no limit. */
  maxTokenAgeSeconds?: number;
  /** Refuse tokens without `exp`. Default `true`. */
  requireExpiry?: boolean;
  /** Claims every token must carry (any value). Default `[]`. */
  requiredClaims?: readonly string[];
  /** Metadata key carrying `Bearer <token>`. Default `authorization`. */
  header?: string;
  /**
   * Methods that need no token: a `MethodMatcher` (a method key such as `pkg.Service/Method` or
   * `pkg.Service`, a list of them, a `{ fullMethod, service, type }` match or a predicate).
   * Default `DEFAULT_PUBLIC_SERVICES`: gRPC health checking, server reflection and ORCA load reports.
   */
  publicMethods?: MethodMatcher;
  /**
   * Per-method policy keyed by `MethodKey`: `pkg.Service/Method` or `/pkg.Service/Method` (one
   * method), `pkg.Service` (all its methods) or `*` (every method); the most specific key wins.
   * Default `{}`: any valid token may call any method.
   */
  policy?: MethodPolicies;
  /** Claim holding scopes. Default `scope` (space-separated string); `scp` (array or string) is read too. */
  scopeClaim?: string;
  /** Claim holding roles (array or space-separated string). Default `roles`. */
  rolesClaim?: string;
  /** Last word after the token and policy passed: return `false` to answer PERMISSION_DENIED. Default: none. */
  authorize?: (identity: AuthIdentity, context: CallContext) => boolean | Promise<boolean>;
  /** Verified tokens remembered so a repeated token skips the signature check. Default 10000; 0 disables. */
  cacheSize?: number;
  /** Longer tokens are refused before any parsing. Default 8192 bytes. */
  maxTokenBytes?: number;
  /**
   * Metadata keys stripped from every call, public ones included, because a client could use them
   * to pretend to be someone. Default: `x-user-id`, `x-user`, `x-subject`, `x-auth-subject`,
   * `x-authenticated-user`, `x-forwarded-user`, `x-jwt-payload`.
   */
  stripMetadata?: readonly string[];
  /** `realm` in the `www-authenticate` trailer. Default `weft`. */
  realm?: string;
  /**
   * The clock (ms since epoch) that decides whether a token has expired, how long a verified token
   * stays cached and how long a fetched JWKS key is trusted. Default: `Date.now()`, read at each use.
   */
  now?: () => number;
}

export interface ResolvedAuthOptions {
  readonly algorithms: Algorithm[];
  readonly issuer: string | [string, ...string[]] | undefined;
  readonly audience: string | [string, ...string[]] | undefined;
  readonly clockToleranceSeconds: number;
  readonly maxTokenAgeSeconds: number | undefined;
  readonly requireExpiry: boolean;
  readonly requiredClaims: readonly string[];
  readonly header: string;
  readonly isPublic: (method: MethodInfo) => boolean;
  readonly policy: MethodPolicies;
  readonly scopeClaim: string;
  readonly rolesClaim: string;
  readonly authorize: JwtAuthOptions['authorize'];
  readonly cacheSize: number;
  readonly maxTokenBytes: number;
  readonly stripMetadata: readonly string[];
  readonly realm: string;
  readonly now: () => number;
}

/**
 * Services that must answer without a token or client certificate of their own: load balancers and
 * grpcurl need them. The ORCA load-report service (`xds.service.orca.v3.OpenRcaService`) is one:
 * grpc-js's `weighted_round_robin` opens its stream on the subchannel without the channel's
 * interceptors, so it never carries a bearer token; it serves load numbers, no user data (see the
 * README's "Public methods" for the reasoning).
 */
export const DEFAULT_PUBLIC_SERVICES: readonly MethodKey[] = Object.freeze([
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
  'xds.service.orca.v3.OpenRcaService',
]);

export const DEFAULT_STRIPPED_METADATA: readonly string[] = Object.freeze([
  'x-user-id',
  'x-user',
  'x-subject',
  'x-auth-subject',
  'x-authenticated-user',
  'x-forwarded-user',
  'x-jwt-payload',
]);

function list(value: string | readonly string[] | undefined): string | [string, ...string[]] | undefined {
  if (value === undefined || typeof value === 'string') return value;
  if (value.length === 0) return undefined;
  return [...value] as [string, ...string[]];
}

/** `Date.now()` looked up at each use, so fake timers that replace `Date` apply too. */
export const systemClock = (): number => Date.now();

/** `jwtAuth()`'s defaults; `keys` and `algorithms` are required (no default). */
export const JWT_AUTH_DEFAULTS: Readonly<JwtAuthOptions> = Object.freeze({
  keys: undefined as unknown as KeySource,
  algorithms: undefined as unknown as readonly Algorithm[],
  /** Not checked: set them in production. */
  issuer: undefined,
  audience: undefined,
  /** As Envoy. */
  clockToleranceSeconds: 60,
  /** No limit. */
  maxTokenAgeSeconds: undefined,
  requireExpiry: true,
  requiredClaims: [],
  header: 'authorization',
  /** Load balancers and grpcurl need health and reflection without a token. */
  publicMethods: DEFAULT_PUBLIC_SERVICES,
  /** Any valid token may call any method. */
  policy: {},
  scopeClaim: 'scope',
  rolesClaim: 'roles',
  /** No last word. */
  authorize: undefined,
  cacheSize: 10_000,
  maxTokenBytes: 8192,
  stripMetadata: DEFAULT_STRIPPED_METADATA,
  realm: 'weft',
  now: systemClock,
});

const stringOrList: OptionCheck<string | readonly string[] | undefined> = (value) =>
  value === undefined || typeof value === 'string' || Array.isArray(value)
    ? undefined
    : 'must be a string or a list of strings';
const matcher: OptionCheck<MethodMatcher | undefined> = (value) => {
  if (value === undefined) return undefined;
  try {
    toPredicate(value);
    return undefined;
  } catch (error) {
    return `must be a method matcher: ${(error as Error).message}`;
  }
};

/** Checks shared by `jwtAuth` and `peerIdentity`. */
const sharedChecks = {
  publicMethods: matcher,
  policy: check.object,
  authorize: check.function,
  cacheSize: check.nonNegative,
  now: check.function,
};

export function resolveAuthOptions(options: JwtAuthOptions): ResolvedAuthOptions {
  const o = resolveOptions('jwtAuth', JWT_AUTH_DEFAULTS, options, {
    ...sharedChecks,
    keys: (value) =>
      typeof value === 'object' && value !== null
        ? undefined
        : 'is required: a key, a list of keys or a JWKS source',
    algorithms: (value) => (Array.isArray(value) ? undefined : 'is required: a list of algorithms'),
    issuer: stringOrList,
    audience: stringOrList,
    clockToleranceSeconds: check.nonNegative,
    maxTokenAgeSeconds: check.positive,
    requireExpiry: check.boolean,
    requiredClaims: check.list,
    header: check.nonEmptyString,
    scopeClaim: check.nonEmptyString,
    rolesClaim: check.nonEmptyString,
    maxTokenBytes: check.positiveInteger,
    stripMetadata: check.list,
    realm: check.string,
  });
  const algorithms = [...o.algorithms];
  if (algorithms.length === 0)
    throw new OptionError('jwtAuth', 'algorithms', 'must list the accepted algorithms', algorithms);
  if (algorithms.some((alg) => (alg as string).toLowerCase() === 'none')) {
    throw new OptionError('jwtAuth', 'algorithms', 'must not hold `none` (never accepted)', 'none');
  }
  return {
    algorithms,
    issuer: list(o.issuer),
    audience: list(o.audience),
    clockToleranceSeconds: o.clockToleranceSeconds as number,
    maxTokenAgeSeconds: o.maxTokenAgeSeconds,
    requireExpiry: o.requireExpiry as boolean,
    requiredClaims: o.requiredClaims as readonly string[],
    header: (o.header as string).toLowerCase(),
    isPublic: toPredicate(o.publicMethods as MethodMatcher),
    policy: o.policy as MethodPolicies,
    scopeClaim: o.scopeClaim as string,
    rolesClaim: o.rolesClaim as string,
    authorize: o.authorize,
    cacheSize: o.cacheSize as number,
    maxTokenBytes: o.maxTokenBytes as number,
    stripMetadata: (o.stripMetadata as readonly string[]).map((key) => key.toLowerCase()),
    realm: o.realm as string,
    now: o.now as () => number,
  };
}

export interface PeerIdentityOptions {
  /**
   * Where the workload identity comes from, in order; the first the certificate has wins:
   * `uri` (the URI SAN, e.g. a SPIFFE ID), `dns` (the DNS SAN), `cn` (the subject common name).
   * A certificate with two names of the chosen kind is refused (`ambiguous_peer_identity`).
   * Default `['uri', 'dns', 'cn']`.
   */
  identityFrom?: readonly PeerIdentitySource[];
  /**
   * Refuse calls without a verified client certificate (UNAUTHENTICATED). Public methods and
   * methods whose policy says `credentials: 'jwt'` or `'either'` never need one. Default `true`.
   */
  requireClientCertificate?: boolean;
  /** Methods that need no certificate (a `MethodMatcher`). Default `DEFAULT_PUBLIC_SERVICES`: health, reflection, ORCA load reports. */
  publicMethods?: MethodMatcher;
  /**
   * Per-method policy (`peers`, `trustDomains`, `credentials`, `public`) keyed by `MethodKey` as in
   * `jwtAuth` (`pkg.Service/Method`, `/pkg.Service/Method`, `pkg.Service`, `*`; the most specific
   * wins). Default `{}`: any verified workload may call any method.
   */
  policy?: MethodPolicies;
  /** Last word after the certificate and policy passed: `false` answers PERMISSION_DENIED. Default: none. */
  authorize?: (peer: PeerIdentity, context: CallContext) => boolean | Promise<boolean>;
  /**
   * The server's certificate files (the ones given to `tlsServerCredentials`): each client
   * certificate must also have been issued by a CA of their current bundle, so a CA rotated out
   * fails the calls of connections opened before the rotation too (TLS checked them against the
   * old bundle, and grpc-js keeps them open). Checked once per certificate and CA generation; the
   * leaf must be signed directly by a certificate of the bundle (put intermediates in it).
   * Default: none (TLS's check at the handshake is the only one).
   */
  trust?: CertificateFiles;
  /** Certificates whose identity is remembered (by fingerprint). Default 1000; 0 disables. */
  cacheSize?: number;
  /** The clock that decides whether a certificate has expired, ms since epoch. Default: `Date.now()`, read at each use. */
  now?: () => number;
}

export interface ResolvedPeerOptions {
  readonly identityFrom: readonly PeerIdentitySource[];
  readonly requireClientCertificate: boolean;
  readonly isPublic: (method: MethodInfo) => boolean;
  readonly policy: MethodPolicies;
  readonly authorize: PeerIdentityOptions['authorize'];
  readonly trust: CertificateFiles | undefined;
  readonly cacheSize: number;
  readonly now: () => number;
}

const SOURCES: readonly PeerIdentitySource[] = Object.freeze(['uri', 'dns', 'cn']);

/** `peerIdentity()`'s defaults. */
export const PEER_IDENTITY_DEFAULTS: Readonly<PeerIdentityOptions> = Object.freeze({
  /** URI SAN (SPIFFE), then DNS SAN, then CN. */
  identityFrom: SOURCES,
  requireClientCertificate: true,
  publicMethods: DEFAULT_PUBLIC_SERVICES,
  /** Any verified workload may call any method. */
  policy: {},
  authorize: undefined,
  /** TLS's check at the handshake is the only one. */
  trust: undefined,
  cacheSize: 1000,
  now: systemClock,
});

export function resolvePeerOptions(options?: PeerIdentityOptions): ResolvedPeerOptions {
  const o = resolveOptions('peerIdentity', PEER_IDENTITY_DEFAULTS, options, {
    ...sharedChecks,
    identityFrom: (value) =>
      Array.isArray(value) && value.length > 0 && value.every((source) => SOURCES.includes(source))
        ? undefined
        : "must list some of 'uri', 'dns', 'cn'",
    requireClientCertificate: check.boolean,
    trust: check.object,
  });
  return {
    identityFrom: [...(o.identityFrom as readonly PeerIdentitySource[])],
    requireClientCertificate: o.requireClientCertificate as boolean,
    isPublic: toPredicate(o.publicMethods as MethodMatcher),
    policy: o.policy as MethodPolicies,
    authorize: o.authorize,
    trust: o.trust,
    cacheSize: o.cacheSize as number,
    now: o.now as () => number,
  };
}
