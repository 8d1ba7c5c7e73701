export { type BearerTokenOptions, bearerToken, type IssuedToken, type TokenSource } from './bearer-token';
export { CertificateFiles, type CertificateFilesOptions } from './certificate-files';
export {
  type AuthIdentity,
  authenticatedBy,
  authenticatedPeer,
  authIdentity,
  identityKey,
  type PeerIdentity,
  type PeerIdentitySource,
  peerIdentityKey,
} from './identity';
export { jwtAuth } from './jwt-auth';
export type { JwksSource, KeySource, StaticKey } from './keys';
export {
  type CredentialsRequirement,
  DEFAULT_PUBLIC_SERVICES,
  DEFAULT_STRIPPED_METADATA,
  type JwtAuthOptions,
  type MethodPolicy,
  type PeerIdentityOptions,
} from './options';
export { peerIdentity } from './peer-identity';
export type { AuthRejection } from './rejection';
export {
  type ChannelTlsOptions,
  type ServerTlsOptions,
  tlsChannelCredentials,
  tlsServerCredentials,
} from './tls-credentials';
