import { status } from '@grpc/grpc-js';
import { type CallContext, type MethodInfo, signals, type WeftServerCall } from '@weft/core';

/**
 * Why a call was refused: `reason` is a stable slug for metrics and logs, `message` is what the
 * caller reads (actionable, never the token, key material or verifier internals).
 */
export interface AuthRejection {
  readonly code: status;
  readonly reason: string;
  readonly message: string;
  /** RFC 6750 `error` value for the `www-authenticate` hint, when there is one. */
  readonly bearerError?: 'invalid_request' | 'invalid_token' | 'insufficient_scope';
}

function reject(reason: string, message: string, bearerError?: AuthRejection['bearerError']): AuthRejection {
  return Object.freeze({ code: status.UNAUTHENTICATED, reason, message, bearerError });
}

/** The fixed rejections, built once: refusing a call allocates nothing. */
export const rejections = {
  missing: reject('missing', 'missing bearer token in "authorization" metadata'),
  badScheme: reject('bad_scheme', 'authorization scheme must be "Bearer"', 'invalid_request'),
  malformed: reject('malformed', 'token is not a well-formed JWT', 'invalid_token'),
  oversized: reject('oversized', 'token is too large', 'invalid_token'),
  notObject: reject('malformed', 'token payload is not a JSON object', 'invalid_token'),
  algorithm: reject('algorithm', 'token algorithm not accepted', 'invalid_token'),
  crit: reject('crit', 'token has unsupported critical header parameters', 'invalid_token'),
  missingKid: reject('unknown_kid', 'token has no key id (kid)', 'invalid_token'),
  unknownKid: reject('unknown_kid', 'token key id (kid) not recognised', 'invalid_token'),
  signature: reject('bad_signature', 'token signature is invalid', 'invalid_token'),
  expired: reject('expired', 'token expired', 'invalid_token'),
  notYetValid: reject('not_yet_valid', 'token not yet valid (nbf)', 'invalid_token'),
  tooOld: reject('too_old', 'token is older than the accepted maximum age', 'invalid_token'),
  noExpiry: reject('missing_exp', 'token has no expiry (exp)', 'invalid_token'),
  issuer: reject('issuer', 'token issuer not accepted', 'invalid_token'),
  audience: reject('audience', 'token audience not accepted', 'invalid_token'),
  invalid: reject('invalid', 'token is invalid', 'invalid_token'),
  keysUnavailable: Object.freeze({
    code: status.UNAVAILABLE,
    reason: 'keys_unavailable',
    message: 'cannot verify token: signing keys are unavailable, try again later',
  }) as AuthRejection,
  // mTLS (`peerIdentity`): no bearer hint, the certificate is not a bearer credential.
  missingClientCert: reject('missing_client_cert', 'a verified client certificate is required (mutual TLS)'),
  missingCredentials: reject(
    'missing',
    'missing credentials: a bearer token or a client certificate is required',
  ),
  badPeerCertificate: reject('bad_peer_certificate', 'client certificate names cannot be read'),
  noPeerIdentity: reject('no_peer_identity', 'client certificate carries no usable identity'),
  ambiguousPeer: reject(
    'ambiguous_peer_identity',
    'client certificate carries more than one identity of the same kind',
  ),
  badSpiffeId: reject('bad_spiffe_id', 'client certificate URI SAN is not a valid SPIFFE ID'),
  peerExpired: reject('peer_certificate_expired', 'client certificate expired'),
  peerUntrusted: reject('peer_certificate_untrusted', 'client certificate is no longer trusted (CA rotated)'),
  peerDenied: Object.freeze({
    code: status.PERMISSION_DENIED,
    reason: 'peer_not_allowed',
    message: 'calling workload is not allowed to call this method',
  }) as AuthRejection,
  denied: Object.freeze({
    code: status.PERMISSION_DENIED,
    reason: 'denied',
    message: 'caller is not allowed to call this method',
  }) as AuthRejection,
} as const;

export function missingClaim(claim: string): AuthRejection {
  return reject('missing_claim', `token lacks required claim "${claim}"`, 'invalid_token');
}

export function insufficientScope(missing: string): AuthRejection {
  return Object.freeze({
    code: status.PERMISSION_DENIED,
    reason: 'insufficient_scope',
    message: `token lacks required scope "${missing}"`,
    bearerError: 'insufficient_scope',
  });
}

export function missingRole(roles: readonly string[]): AuthRejection {
  return Object.freeze({
    code: status.PERMISSION_DENIED,
    reason: 'insufficient_role',
    message: `token lacks one of the roles: ${roles.join(', ')}`,
  });
}

/** Publishes a refusal on `@weft/core`'s `authFailure` signal (what `@weft/metrics` counts). */
export function publishRejection(method: MethodInfo, rejection: AuthRejection): void {
  if (signals.authFailure.hasSubscribers) {
    signals.authFailure.publish({ method, reason: rejection.reason, code: rejection.code });
  }
}

/**
 * Runs a user's `authorize` hook (jwtAuth's and peerIdentity's): false, a throw or a rejected
 * promise refuse with `denied`, so a broken hook fails closed.
 */
export function authorizeWith<I>(
  hook: (identity: I, context: CallContext) => boolean | Promise<boolean>,
  identity: I,
  context: CallContext,
  denied: AuthRejection,
): Decision {
  let verdict: boolean | Promise<boolean>;
  try {
    verdict = hook(identity, context);
  } catch {
    return denied;
  }
  if (verdict instanceof Promise)
    return verdict.then(
      (ok) => (ok ? undefined : denied),
      () => denied,
    );
  return verdict ? undefined : denied;
}

/** What an admission check decides: admit (`undefined`), refuse, or either later (an `authorize` hook). */
export type Decision = AuthRejection | undefined | Promise<AuthRejection | undefined>;

/** Ends a refused call (each interceptor adds its own trailers). */
export type Refuse = (call: WeftServerCall, stage: number, rejection: AuthRejection) => void;

/**
 * Applies a decision to the call (jwtAuth's and peerIdentity's): admits, refuses, or waits for it;
 * a decision that fails to settle refuses with `failed`, so a broken hook fails closed. Returns the
 * promise of a pending decision, which the stage waits for before the handler runs.
 */
export function settleDecision(
  decision: Decision,
  call: WeftServerCall,
  stage: number,
  refuse: Refuse,
  failed: AuthRejection,
): void | Promise<void> {
  if (decision === undefined) return;
  if (decision instanceof Promise) {
    return decision.then(
      (settled) => (settled === undefined ? undefined : refuse(call, stage, settled)),
      () => refuse(call, stage, failed),
    );
  }
  refuse(call, stage, decision);
}
