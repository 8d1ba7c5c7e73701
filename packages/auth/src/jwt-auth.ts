import { Metadata } from '@grpc/grpc-js';
import { type CallContext, type StagedServerInterceptor, stagedInterceptor, subjectKey } from '@weft/core';
import { type AuthIdentity, identityKey, peerIdentityKey } from './identity';
import { keyRing } from './keys';
import {
  type CredentialsRequirement,
  type JwtAuthOptions,
  policyCache,
  type ResolvedAuthOptions,
  resolveAuthOptions,
} from './options';
import {
  type AuthRejection,
  authorizeWith,
  type Decision,
  insufficientScope,
  missingRole,
  publishRejection,
  type Refuse,
  rejections,
  settleDecision,
} from './rejection';
import { isRejection, TokenVerifier, type Verification } from './token-verifier';

interface ResolvedPolicy {
  readonly public: boolean;
  /** `undefined` and `jwt`: a token is required, the client certificate is `peerIdentity`'s business. */
  readonly credentials: CredentialsRequirement | undefined;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
}

const BEARER = 'bearer ';
const duplicateHeader: AuthRejection = Object.freeze({
  ...rejections.malformed,
  message: 'more than one authorization value',
});
const emptyToken: AuthRejection = Object.freeze({
  ...rejections.malformed,
  message: 'bearer token is empty',
});

/**
 * Server interceptor that authenticates every call from a JWT bearer token in its metadata and
 * applies the method's policy before the handler runs. Refused calls end with UNAUTHENTICATED
 * (no or bad token) or PERMISSION_DENIED (valid token, not allowed) and a `www-authenticate` trailer.
 */
export function jwtAuth(options: JwtAuthOptions): StagedServerInterceptor {
  const o = resolveAuthOptions(options);
  const verifier = new TokenVerifier(o, keyRing(options.keys, o.algorithms, o.now));
  // Content-keyed, not per method: scope and claim refusals are built per call, so it is bounded by count.
  const challenges = new Map<string, string>();
  const missing: AuthRejection =
    o.header === 'authorization'
      ? rejections.missing
      : Object.freeze({ ...rejections.missing, message: `missing bearer token in "${o.header}" metadata` });
  const missingEither: AuthRejection =
    o.header === 'authorization'
      ? rejections.missingCredentials
      : Object.freeze({
          ...rejections.missingCredentials,
          message: `missing credentials: a bearer token in "${o.header}" or a client certificate is required`,
        });

  const policies = policyCache(
    o,
    (given, isPublic): ResolvedPolicy => ({
      public: isPublic,
      credentials: given.credentials,
      scopes: given.scopes ?? [],
      roles: given.roles ?? [],
    }),
  );

  const challenge = (rejection: AuthRejection): string => {
    // Keyed by content: scope and claim refusals are built per call.
    const key = `${rejection.reason}\u0000${rejection.message}`;
    let value = challenges.get(key);
    if (value === undefined) {
      value = `Bearer realm="${o.realm}"`;
      if (rejection.bearerError !== undefined) {
        value += `, error="${rejection.bearerError}", error_description="${rejection.message.replaceAll('"', "'")}"`;
      }
      if (challenges.size < 256) challenges.set(key, value);
    }
    return value;
  };

  const refuse: Refuse = (call, stage, rejection) => {
    publishRejection(call.context.method, rejection);
    const trailers = new Metadata();
    if (rejection.code !== rejections.keysUnavailable.code)
      trailers.set('www-authenticate', challenge(rejection));
    call.sendStatusFrom(stage, { code: rejection.code, details: rejection.message, metadata: trailers });
  };

  return stagedInterceptor({
    start(call, stage) {
      const context = call.context;
      const policy = policies.get(context.method);
      // Applies the verification's outcome: admits (returns), refuses, or waits for `authorize`.
      const decide = (result: Verification): void | Promise<void> =>
        settleDecision(
          isRejection(result) ? result : allow(result, policy, context, o),
          call,
          stage,
          refuse,
          rejections.denied,
        );
      return {
        onReceiveMetadata(metadata) {
          for (const key of o.stripMetadata) metadata.remove(key);
          if (policy.public) return;
          const credentials = policy.credentials;
          if (credentials !== undefined && credentials !== 'jwt') {
            // The workload's certificate was checked by `peerIdentity`, which runs before this.
            const peer = context.get(peerIdentityKey) !== undefined;
            if (credentials === 'both') {
              if (!peer) return refuse(call, stage, rejections.missingClientCert);
            } else if (metadata.get(o.header).length === 0) {
              if (peer) return;
              return refuse(
                call,
                stage,
                credentials === 'peer' ? rejections.missingClientCert : missingEither,
              );
            }
          }
          const verified = verify(metadata, o, verifier, missing);
          if (verified instanceof Promise) {
            return verified.then(decide, () => refuse(call, stage, rejections.keysUnavailable));
          }
          return decide(verified);
        },
      };
    },
  });
}

function verify(
  metadata: Metadata,
  o: ResolvedAuthOptions,
  verifier: TokenVerifier,
  missing: AuthRejection,
): Verification | Promise<Verification> {
  const values = metadata.get(o.header);
  if (values.length === 0) return missing;
  if (values.length > 1) return duplicateHeader;
  const value = values[0];
  if (typeof value !== 'string') return rejections.badScheme;
  if (value.length < BEARER.length || value.slice(0, BEARER.length).toLowerCase() !== BEARER) {
    return value.trim().toLowerCase() === 'bearer' ? emptyToken : rejections.badScheme;
  }
  const token = value.slice(BEARER.length).trim();
  if (token.length === 0) return emptyToken;
  // HTTP/2 joins repeated headers with ", "; a JWT never holds a comma.
  if (token.includes(',')) return duplicateHeader;
  return verifier.verify(token);
}

/**
 * Applies the method's policy to a verified identity and, if it passes, puts the identity on the
 * call's context. Returns `undefined` to admit, a rejection to refuse, or a promise of either.
 */
function allow(
  identity: AuthIdentity,
  policy: ResolvedPolicy,
  context: CallContext,
  o: ResolvedAuthOptions,
): Decision {
  for (const scope of policy.scopes) if (!identity.scopes.has(scope)) return insufficientScope(scope);
  if (policy.roles.length > 0 && !policy.roles.some((role) => identity.roles.has(role))) {
    return missingRole(policy.roles);
  }
  context.set(identityKey, identity);
  if (identity.subject !== undefined) {
    context.set(subjectKey, identity.subject);
    context.addLogFields({ 'auth.sub': identity.subject });
  }
  return o.authorize === undefined
    ? undefined
    : authorizeWith(o.authorize, identity, context, rejections.denied);
}
