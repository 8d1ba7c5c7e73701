/** Key material and token minting shared by the auth tests. */
import { generateKeyPairSync } from 'node:crypto';
import jwt, { type SignOptions } from 'jsonwebtoken';

export const SECRET = 'test-secret-that-is-long-enough-for-hs256!';
export const ISSUER = 'weft-test';
export const AUDIENCE = 'test-service';

export const rsa = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
export const otherRsa = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});
export const ec = generateKeyPairSync('ec', {
  namedCurve: 'prime256v1',
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

/** Sign options with `undefined` values removed: jsonwebtoken refuses `expiresIn: undefined`. */
function signOptions(base: SignOptions, options: SignOptions): SignOptions {
  const merged: Record<string, unknown> = { ...base, ...options };
  for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key];
  return merged as SignOptions;
}

export function hs256(claims: Record<string, unknown> = {}, options: SignOptions = {}): string {
  const base: SignOptions = { algorithm: 'HS256', issuer: ISSUER, audience: AUDIENCE, expiresIn: 300 };
  return jwt.sign({ sub: 'alice', scope: 'users:read', ...claims }, SECRET, signOptions(base, options));
}

export function rs256(claims: Record<string, unknown> = {}, options: SignOptions = {}, key = rsa.privateKey) {
  const base: SignOptions = { algorithm: 'RS256', issuer: ISSUER, audience: AUDIENCE, expiresIn: 300 };
  return jwt.sign({ sub: 'bob', scope: 'users:read', ...claims }, key, signOptions(base, options));
}

export const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A token assembled by hand, for headers and payloads jsonwebtoken refuses to sign. */
export function handmade(header: unknown, payload: unknown | string, signature = 'c2ln'): string {
  const body = typeof payload === 'string' ? Buffer.from(payload).toString('base64url') : b64url(payload);
  return `${b64url(header)}.${body}.${signature}`;
}
