import { X509Certificate } from 'node:crypto';
import { Metadata, ServerInterceptingCall } from '@grpc/grpc-js';
import { type CallContext, type StagedServerInterceptor, stagedInterceptor, subjectKey } from '@weft/core';
import type { CertificateFiles } from './certificate-files';
import { type PeerIdentity, peerIdentityKey } from './identity';
import {
  type PeerIdentityOptions,
  policyCache,
  type ResolvedPeerOptions,
  resolvePeerOptions,
} from './options';
import { PeerIdentityCache } from './peer-certificate';
import {
  type AuthRejection,
  authorizeWith,
  type Decision,
  publishRejection,
  type Refuse,
  rejections,
  settleDecision,
} from './rejection';

interface ResolvedPeerPolicy {
  /** No certificate needed and none looked at. */
  readonly public: boolean;
  /** A call without a verified client certificate is refused. */
  readonly required: boolean;
  /** `undefined`: any verified workload. */
  readonly peers: ReadonlySet<string> | undefined;
  readonly trustDomains: ReadonlySet<string> | undefined;
}

/** Log fields per identity, built once: `addLogFields` keeps the object it is given. */
const logFields = new WeakMap<PeerIdentity, Readonly<Record<string, string>>>();
function fieldsOf(identity: PeerIdentity): Readonly<Record<string, string>> {
  let fields = logFields.get(identity);
  if (fields === undefined) {
    fields = Object.freeze({ 'peer.identity': identity.id });
    logFields.set(identity, fields);
  }
  return fields;
}

/**
 * Server interceptor that reads the calling workload's identity from the client certificate TLS
 * verified (grpc-js's `call.getAuthContext()`), puts it on the call's context and applies the
 * method's policy. A call without a verified certificate (where one is required) or whose
 * certificate names no usable identity ends with UNAUTHENTICATED; a workload the policy does not
 * list with PERMISSION_DENIED. Refusals go out on the same `authFailure` signal as `jwtAuth`'s.
 *
 * It needs TLS server credentials that ask for a client certificate (`checkClientCertificate` /
 * `requireClientCertificate`); grpc-js reports a certificate only when the handshake verified it
 * against the server's CA, so an unverified one is the same as none.
 */
export function peerIdentity(options?: PeerIdentityOptions): StagedServerInterceptor {
  // Older grpc-js has no way to show the peer certificate to interceptors: say so at setup, not per call.
  if (typeof ServerInterceptingCall.prototype.getAuthContext !== 'function') {
    throw new Error('weft/auth: peerIdentity needs @grpc/grpc-js >= 1.14 (call.getAuthContext)');
  }
  const o = resolvePeerOptions(options);
  const cache = new PeerIdentityCache(o.identityFrom, o.cacheSize);
  const policies = policyCache(o, (given, isPublic): ResolvedPeerPolicy => {
    const credentials = given.credentials;
    return {
      public: isPublic,
      required:
        !isPublic &&
        (credentials === 'peer' ||
          credentials === 'both' ||
          (credentials === undefined && o.requireClientCertificate)),
      peers: given.peers === undefined ? undefined : new Set(given.peers),
      trustDomains: given.trustDomains === undefined ? undefined : new Set(given.trustDomains),
    };
  });

  const refuse: Refuse = (call, stage, rejection) => {
    publishRejection(call.context.method, rejection);
    call.sendStatusFrom(stage, {
      code: rejection.code,
      details: rejection.message,
      metadata: new Metadata(),
    });
  };

  return stagedInterceptor({
    start(call, stage) {
      const context = call.context;
      const policy = policies.get(context.method);
      if (policy.public) return undefined;
      return {
        onReceiveMetadata() {
          const certificate = call.getAuthContext()?.sslPeerCertificate;
          if (certificate === undefined) {
            if (policy.required) refuse(call, stage, rejections.missingClientCert);
            return;
          }
          const identity = cache.get(certificate);
          if (
            o.trust !== undefined &&
            !isRejection(identity) &&
            !trusted(identity, certificate.raw, o.trust)
          ) {
            return refuse(call, stage, rejections.peerUntrusted);
          }
          return settleDecision(
            admit(identity, policy, context, o),
            call,
            stage,
            refuse,
            rejections.peerDenied,
          );
        },
      };
    },
  });
}

/** Per identity, the CA generation its certificate was last checked in and the verdict: `generation * 2 + (ok ? 1 : 0)`. */
const trustChecks = new WeakMap<PeerIdentity, number>();

/** Whether the current CA bundle of `trust` issued the certificate: once per certificate and generation. */
function trusted(identity: PeerIdentity, raw: Buffer, trust: CertificateFiles): boolean {
  const generation = trust.generation;
  const checked = trustChecks.get(identity);
  if (checked !== undefined && checked >> 1 === generation) return (checked & 1) === 1;
  const leaf = new X509Certificate(raw);
  const ok = trust.caCertificates.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
  trustChecks.set(identity, generation * 2 + (ok ? 1 : 0));
  return ok;
}

function isRejection(value: PeerIdentity | AuthRejection): value is AuthRejection {
  return (value as AuthRejection).code !== undefined;
}

/** Checks a parsed certificate against the clock and the policy; on success puts it on the context. */
function admit(
  identity: PeerIdentity | AuthRejection,
  policy: ResolvedPeerPolicy,
  context: CallContext,
  o: ResolvedPeerOptions,
): Decision {
  if (isRejection(identity)) return identity;
  // TLS checked validity at the handshake; a connection can outlive the certificate.
  if (o.now() > identity.validTo) return rejections.peerExpired;
  if (policy.peers !== undefined || policy.trustDomains !== undefined) {
    const listed =
      policy.peers?.has(identity.id) === true ||
      (identity.trustDomain !== undefined && policy.trustDomains?.has(identity.trustDomain) === true);
    if (!listed) return rejections.peerDenied;
  }
  context.set(peerIdentityKey, identity);
  // Limits keyed on the subject see the workload until a token names the end user (jwtAuth runs after).
  if (context.get(subjectKey) === undefined) context.set(subjectKey, identity.id);
  context.addLogFields(fieldsOf(identity));
  return o.authorize === undefined
    ? undefined
    : authorizeWith(o.authorize, identity, context, rejections.peerDenied);
}
