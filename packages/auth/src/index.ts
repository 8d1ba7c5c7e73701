export { type BearerTokenOptions, bearerToken, type IssuedToken, type TokenSource } from './bearer-token';
export { type AuthIdentity, authIdentity, identityKey } from './identity';
export { jwtAuth } from './jwt-auth';
export type { JwksSource, KeySource, StaticKey } from './keys';
export {
  DEFAULT_PUBLIC_SERVICES,
  DEFAULT_STRIPPED_METADATA,
  type JwtAuthOptions,
  type MethodPolicy,
} from './options';
export type { AuthRejection } from './rejection';
