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
