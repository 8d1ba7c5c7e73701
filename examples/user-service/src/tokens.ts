import jwt from 'jsonwebtoken';
import type { JwtConfig } from './config';

export interface TokenRequest {
  subject: string;
  /** Space-separated scopes for the `scope` claim, e.g. `users:read users:write`. */
  scope: string;
  /** Lifetime in seconds. */
  ttlSeconds: number;
}

/** Mints an HS256 token the demo server accepts. */
export function mintToken(config: JwtConfig, request: TokenRequest): string {
  return jwt.sign({ scope: request.scope }, config.secret, {
    algorithm: 'HS256',
    subject: request.subject,
    issuer: config.issuer,
    audience: config.audience,
    expiresIn: request.ttlSeconds,
  });
}

export const READ_SCOPE = 'users:read';
export const WRITE_SCOPE = 'users:write';
