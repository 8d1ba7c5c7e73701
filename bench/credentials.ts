/**
 * Bench-only credentials. Every call of every variant carries an `authorization` header, so the
 * header's cost is the same for all; the auth variants verify it. HS256 tokens are deterministic
 * (fixed claims, no iat), so server and load processes agree without talking.
 */
import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';

export const BENCH_SECRET = 'weft-bench-secret-0123456789abcdef';
const claims = { sub: 'bench', scope: 'bench', exp: 4102444800 /* 2100-01-01 */ };

export const HS256_TOKEN = jwt.sign(claims, BENCH_SECRET, { algorithm: 'HS256', noTimestamp: true });

/** A fresh RSA key pair and a token signed with it (the server sends the token to the load process). */
export function rs256Credentials(): { publicKey: string; token: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { publicKey, token: jwt.sign(claims, privateKey, { algorithm: 'RS256', noTimestamp: true }) };
}
