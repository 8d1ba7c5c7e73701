import { type CallContext, createContextKey, getCallContext } from '@weft/core';
import type { JwtPayload } from 'jsonwebtoken';

/** The verified caller, as `jwtAuth` left it on the call's context. Built once per token. */
export interface AuthIdentity {
  /** The `sub` claim, when the token has one. */
  readonly subject: string | undefined;
  /** All claims of the verified token (a JSON object). */
  readonly claims: Readonly<JwtPayload>;
  /** Scopes from the `scope` (space-separated) or `scp` (array or string) claim, or the configured one. */
  readonly scopes: ReadonlySet<string>;
  /** Roles from the configured roles claim (default `roles`). */
  readonly roles: ReadonlySet<string>;
  /** When the token expires (ms since epoch), `undefined` when it has no `exp`. */
  readonly expiresAt: number | undefined;
}

/** The context key `jwtAuth` stores the identity under. */
export const identityKey = createContextKey<AuthIdentity>('weft.auth.identity');

/**
 * The verified identity of the call being handled (or of `context`), `undefined` on public methods
 * and outside a call. Read it here, never from metadata a client could have set.
 */
export function authIdentity(context: CallContext | undefined = getCallContext()): AuthIdentity | undefined {
  return context?.get(identityKey);
}

/** Where a workload identity was read from in the peer's certificate. */
export type PeerIdentitySource = 'uri' | 'dns' | 'cn';

/**
 * The calling workload, read by `peerIdentity()` from the client certificate that TLS verified.
 * Built once per certificate (cached by its SHA-256 fingerprint), shared by every call it makes.
 */
export interface PeerIdentity {
  /** The identity policies match: the URI SAN (e.g. a SPIFFE ID), DNS SAN or subject CN, per `identityFrom`. */
  readonly id: string;
  /** Which part of the certificate `id` came from. */
  readonly source: PeerIdentitySource;
  /** The SPIFFE trust domain when `id` is a SPIFFE ID (`spiffe://<trust domain>/<path>`), else `undefined`. */
  readonly trustDomain: string | undefined;
  /** Every URI SAN of the certificate. */
  readonly uris: readonly string[];
  /** Every DNS SAN of the certificate. */
  readonly dnsNames: readonly string[];
  /** The subject common name, if there is exactly one. */
  readonly commonName: string | undefined;
  /** SHA-256 fingerprint of the certificate (`AB:CD:...`), as Node reports it. */
  readonly fingerprint: string;
  /** End of the certificate's validity (ms since epoch): calls on a connection that outlives it are refused. */
  readonly validTo: number;
}

/** The context key `peerIdentity` stores the workload identity under. */
export const peerIdentityKey = createContextKey<PeerIdentity>('weft.auth.peerIdentity');

/**
 * The verified workload identity (mTLS client certificate) of the call being handled (or of
 * `context`), `undefined` when the call came without one or outside a call.
 */
export function authenticatedPeer(
  context: CallContext | undefined = getCallContext(),
): PeerIdentity | undefined {
  return context?.get(peerIdentityKey);
}

/**
 * Which credentials the call was admitted on: `jwt` (a verified token only), `peer` (a verified
 * client certificate only), `both`, or `undefined` (neither: a public method, or outside a call).
 */
export function authenticatedBy(
  context: CallContext | undefined = getCallContext(),
): 'jwt' | 'peer' | 'both' | undefined {
  const user = context?.get(identityKey) !== undefined;
  const peer = context?.get(peerIdentityKey) !== undefined;
  return user ? (peer ? 'both' : 'jwt') : peer ? 'peer' : undefined;
}
