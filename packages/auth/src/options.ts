import { type CallContext, type MethodInfo, type MethodMatcher, toPredicate } from '@weft/core';
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
 * The policy for `method`: by path (`/pkg.Service/Method`), full method (`pkg.Service/Method`),
 * service (`pkg.Service`), then `*`; `{}` if none. Call once per method and cache.
 */
export function findPolicy(policy: Readonly<Record<string, MethodPolicy>>, method: MethodInfo): MethodPolicy {
  return policy[method.path] ?? policy[method.fullMethod] ?? policy[method.service] ?? policy['*'] ?? {};
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
  /** Methods that need no token. Default: gRPC health checking and server reflection. */
  publicMethods?: MethodMatcher;
  /**
   * Per-method policy, looked up by full method (`/pkg.Service/Method`), then service
   * (`pkg.Service`), then `*`. Default `{}`: any valid token may call any method.
   */
  policy?: Readonly<Record<string, MethodPolicy>>;
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
  readonly policy: Readonly<Record<string, MethodPolicy>>;
  readonly scopeClaim: string;
  readonly rolesClaim: string;
  readonly authorize: JwtAuthOptions['authorize'];
  readonly cacheSize: number;
  readonly maxTokenBytes: number;
  readonly stripMetadata: readonly string[];
  readonly realm: string;
}

/** Services that must answer without a token: load balancers and grpcurl need them. */
export const DEFAULT_PUBLIC_SERVICES: readonly string[] = [
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
];

export const DEFAULT_STRIPPED_METADATA: readonly string[] = [
  'x-user-id',
  'x-user',
  'x-subject',
  'x-auth-subject',
  'x-authenticated-user',
  'x-forwarded-user',
  'x-jwt-payload',
];

function list(value: string | readonly string[] | undefined): string | [string, ...string[]] | undefined {
  if (value === undefined || typeof value === 'string') return value;
  if (value.length === 0) return undefined;
  return [...value] as [string, ...string[]];
}

export function resolveOptions(options: JwtAuthOptions): ResolvedAuthOptions {
  const algorithms = [...(options.algorithms ?? [])];
  if (algorithms.length === 0) throw new Error('weft/auth: `algorithms` must list the accepted algorithms');
  if (algorithms.some((alg) => (alg as string).toLowerCase() === 'none')) {
    throw new Error('weft/auth: the `none` algorithm is never accepted');
  }
  const publicMethods = options.publicMethods;
  return {
    algorithms,
    issuer: list(options.issuer),
    audience: list(options.audience),
    clockToleranceSeconds: options.clockToleranceSeconds ?? 60,
    maxTokenAgeSeconds: options.maxTokenAgeSeconds,
    requireExpiry: options.requireExpiry ?? true,
    requiredClaims: options.requiredClaims ?? [],
    header: (options.header ?? 'authorization').toLowerCase(),
    isPublic:
      publicMethods === undefined
        ? (method) => DEFAULT_PUBLIC_SERVICES.includes(method.service)
        : toPredicate(publicMethods),
    policy: options.policy ?? {},
    scopeClaim: options.scopeClaim ?? 'scope',
    rolesClaim: options.rolesClaim ?? 'roles',
    authorize: options.authorize,
    cacheSize: options.cacheSize ?? 10_000,
    maxTokenBytes: options.maxTokenBytes ?? 8192,
    stripMetadata: (options.stripMetadata ?? DEFAULT_STRIPPED_METADATA).map((key) => key.toLowerCase()),
    realm: options.realm ?? 'weft',
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
  /** Methods that need no certificate. Default: gRPC health checking and server reflection. */
  publicMethods?: MethodMatcher;
  /**
   * Per-method policy (`peers`, `trustDomains`, `credentials`, `public`), looked up as in
   * `jwtAuth`. Default `{}`: any verified workload may call any method.
   */
  policy?: Readonly<Record<string, MethodPolicy>>;
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
  /** The clock that decides whether a certificate has expired, ms since epoch. Default `Date.now`. */
  now?: () => number;
}

export interface ResolvedPeerOptions {
  readonly identityFrom: readonly PeerIdentitySource[];
  readonly requireClientCertificate: boolean;
  readonly isPublic: (method: MethodInfo) => boolean;
  readonly policy: Readonly<Record<string, MethodPolicy>>;
  readonly authorize: PeerIdentityOptions['authorize'];
  readonly trust: CertificateFiles | undefined;
  readonly cacheSize: number;
  readonly now: () => number;
}

const SOURCES: readonly PeerIdentitySource[] = ['uri', 'dns', 'cn'];

export function resolvePeerOptions(options: PeerIdentityOptions = {}): ResolvedPeerOptions {
  const identityFrom = [...(options.identityFrom ?? SOURCES)];
  if (identityFrom.length === 0 || identityFrom.some((source) => !SOURCES.includes(source))) {
    throw new Error("weft/auth: `identityFrom` must list some of 'uri', 'dns', 'cn'");
  }
  const publicMethods = options.publicMethods;
  return {
    identityFrom,
    requireClientCertificate: options.requireClientCertificate ?? true,
    isPublic:
      publicMethods === undefined
        ? (method) => DEFAULT_PUBLIC_SERVICES.includes(method.service)
        : toPredicate(publicMethods),
    policy: options.policy ?? {},
    authorize: options.authorize,
    trust: options.trust,
    cacheSize: options.cacheSize ?? 1000,
    now: options.now ?? Date.now,
  };
}
