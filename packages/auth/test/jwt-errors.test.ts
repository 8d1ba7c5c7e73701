/**
 * weft's reasons for refusing a token, pinned against the installed jsonwebtoken (issue 15, item 7).
 * jsonwebtoken tells most of its failures apart only by their message, so weft keeps a table of
 * them (`JWT_ERROR_MESSAGES`); these tests make an upstream rewording fail here instead of quietly
 * turning a reason into "invalid":
 * 1. every message the installed `verify.js` can throw is in weft's table, and nothing else is;
 * 2. every failure is produced for real by `jwt.verify` and maps to the reason in the table;
 * 3. every reason a client can meet is produced for real over gRPC, with the exact reason
 *    published on `signals.authFailure` and the exact status details.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import { type AuthFailure, signals } from '@weft/core';
import jwt, { type Secret, type VerifyOptions } from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, metadata, startHarness, unary } from '../../../test/harness';
import { jwtAuth } from '../src/index';
import {
  JWT_ERROR_MESSAGES,
  JWT_EXPIRED_MESSAGES,
  jwtMessageRejection,
  rejectionFor,
} from '../src/token-verifier';
import { AUDIENCE, b64url, hs256, ISSUER, rs256, rsa, SECRET } from './keys';

const now = () => Math.floor(Date.now() / 1000);

/** A token signed with SECRET by hand (HS256), for claims jsonwebtoken refuses to sign. */
function handSigned(
  payload: unknown,
  header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' },
): string {
  const body = typeof payload === 'string' ? Buffer.from(payload).toString('base64url') : b64url(payload);
  const signingInput = `${b64url(header)}.${body}`;
  return `${signingInput}.${createHmac('sha256', SECRET).update(signingInput).digest('base64url')}`;
}

const unsigned = () => hs256().split('.').slice(0, 2).join('.').concat('.');
const claims = (extra: Record<string, unknown>) => ({
  sub: 'alice',
  iss: ISSUER,
  aud: AUDIENCE,
  iat: now(),
  exp: now() + 300,
  ...extra,
});

/** A key callback handed to `jwt.verify` without a callback of ours (the synchronous form). */
class WithoutCallback {
  constructor(readonly key: jwt.GetPublicKeyOrSecret) {}
}

/** What `jwt.verify` threw, synchronously or (for key callbacks) through its callback. */
function verifyError(token: unknown, key: unknown, options: Record<string, unknown> = {}): Promise<unknown> {
  if (key instanceof WithoutCallback) key = key.key as unknown as Secret;
  else if (typeof key === 'function') {
    return new Promise((resolve) => {
      jwt.verify(token as string, key as jwt.GetPublicKeyOrSecret, options as VerifyOptions, (error) =>
        resolve(error),
      );
    });
  }
  try {
    jwt.verify(token as string, key as Secret, options as VerifyOptions);
    return Promise.resolve(undefined);
  } catch (error) {
    return Promise.resolve(error);
  }
}

const HS = { algorithms: ['HS256'] };

/** Each failure `jwt.verify` can produce: [what, token, key, options, error class, message, weft reason]. */
const failures: [string, () => unknown, unknown, Record<string, unknown>, string, RegExp | string, string][] =
  [
    ['no token', () => '', SECRET, HS, 'JsonWebTokenError', 'jwt must be provided', 'malformed'],
    ['not a string', () => 42, SECRET, HS, 'JsonWebTokenError', 'jwt must be a string', 'malformed'],
    ['two segments', () => 'aaa.bbb', SECRET, HS, 'JsonWebTokenError', 'jwt malformed', 'malformed'],
    ['undecodable header', () => 'a.b.c', SECRET, HS, 'JsonWebTokenError', 'invalid token', 'malformed'],
    ['no signature', unsigned, SECRET, HS, 'JsonWebTokenError', 'jwt signature is required', 'malformed'],
    [
      'unsigned, no algorithms',
      unsigned,
      undefined,
      {},
      'JsonWebTokenError',
      'please specify "none" in "algorithms" to verify unsigned tokens',
      'algorithm',
    ],
    [
      'algorithm not allowed',
      () => hs256(),
      SECRET,
      { algorithms: ['HS512'] },
      'JsonWebTokenError',
      'invalid algorithm',
      'algorithm',
    ],
    [
      'HS256 with a public key',
      () => hs256(),
      rsa.publicKey,
      HS,
      'JsonWebTokenError',
      'secretOrPublicKey must be a symmetric key when using HS256',
      'algorithm',
    ],
    [
      'RS256 with a secret',
      () => rs256(),
      SECRET,
      { algorithms: ['RS256'] },
      'JsonWebTokenError',
      'secretOrPublicKey must be an asymmetric key when using RS256',
      'algorithm',
    ],
    [
      'wrong secret',
      () => hs256(),
      'another-secret-entirely-32-bytes!!',
      HS,
      'JsonWebTokenError',
      'invalid signature',
      'bad_signature',
    ],
    [
      'nbf not a number',
      () => handSigned(claims({ nbf: 'soon' })),
      SECRET,
      HS,
      'JsonWebTokenError',
      'invalid nbf value',
      'invalid',
    ],
    [
      'exp not a number',
      () => handSigned(claims({ exp: 'later' })),
      SECRET,
      HS,
      'JsonWebTokenError',
      'invalid exp value',
      'invalid',
    ],
    [
      'not yet valid',
      () => hs256({ nbf: now() + 3600 }),
      SECRET,
      HS,
      'NotBeforeError',
      'jwt not active',
      'not_yet_valid',
    ],
    [
      'expired',
      () => hs256({ exp: now() - 3600 }, { expiresIn: undefined }),
      SECRET,
      HS,
      'TokenExpiredError',
      'jwt expired',
      'expired',
    ],
    [
      'wrong audience',
      () => hs256(),
      SECRET,
      { ...HS, audience: 'other-service' },
      'JsonWebTokenError',
      'jwt audience invalid. expected: other-service',
      'audience',
    ],
    [
      'wrong issuer',
      () => hs256(),
      SECRET,
      { ...HS, issuer: 'someone-else' },
      'JsonWebTokenError',
      'jwt issuer invalid. expected: someone-else',
      'issuer',
    ],
    [
      'wrong subject',
      () => hs256(),
      SECRET,
      { ...HS, subject: 'bob' },
      'JsonWebTokenError',
      'jwt subject invalid. expected: bob',
      'invalid',
    ],
    [
      'wrong jwtid',
      () => hs256(),
      SECRET,
      { ...HS, jwtid: 'j1' },
      'JsonWebTokenError',
      'jwt jwtid invalid. expected: j1',
      'invalid',
    ],
    [
      'wrong nonce',
      () => hs256(),
      SECRET,
      { ...HS, nonce: 'n1' },
      'JsonWebTokenError',
      'jwt nonce invalid. expected: n1',
      'invalid',
    ],
    [
      'no iat with maxAge',
      () => hs256({}, { noTimestamp: true }),
      SECRET,
      { ...HS, maxAge: 60 },
      'JsonWebTokenError',
      'iat required when maxAge is specified',
      'missing_claim',
    ],
    [
      'older than maxAge',
      () => hs256({ iat: now() - 3600, exp: now() + 300 }, { expiresIn: undefined }),
      SECRET,
      { ...HS, maxAge: 60 },
      'TokenExpiredError',
      'maxAge exceeded',
      'too_old',
    ],
    [
      'bad maxAge',
      () => hs256(),
      SECRET,
      { ...HS, maxAge: 'a while' },
      'JsonWebTokenError',
      '"maxAge" should be a number of seconds or string representing a timespan eg: "1d", "20h", 60',
      'invalid',
    ],
    [
      'bad clockTimestamp',
      () => hs256(),
      SECRET,
      { ...HS, clockTimestamp: 'now' },
      'JsonWebTokenError',
      'clockTimestamp must be a number',
      'invalid',
    ],
    [
      'blank nonce option',
      () => hs256(),
      SECRET,
      { ...HS, nonce: ' ' },
      'JsonWebTokenError',
      'nonce must be a non-empty string',
      'invalid',
    ],
    [
      'bad allowInvalidAsymmetricKeyTypes',
      () => hs256(),
      SECRET,
      { ...HS, allowInvalidAsymmetricKeyTypes: 'yes' },
      'JsonWebTokenError',
      'allowInvalidAsymmetricKeyTypes must be a boolean',
      'invalid',
    ],
    [
      'no key',
      () => hs256(),
      '',
      HS,
      'JsonWebTokenError',
      'secret or public key must be provided',
      'invalid',
    ],
    [
      'not a key',
      () => hs256(),
      42,
      HS,
      'JsonWebTokenError',
      'secretOrPublicKey is not valid key material',
      'invalid',
    ],
    [
      'key callback, verified synchronously',
      () => hs256(),
      new WithoutCallback((_header, done) => done(null, SECRET)),
      HS,
      'JsonWebTokenError',
      'verify must be called asynchronous if secret or public key is provided as a callback',
      'invalid',
    ],
    [
      'failing key callback',
      () => hs256(),
      (_header: unknown, done: (error: Error) => void) => done(new Error('offline')),
      HS,
      'JsonWebTokenError',
      'error in secret or public key callback: offline',
      'invalid',
    ],
    ['payload not JSON', () => handSigned('just a string'), SECRET, HS, 'SyntaxError', /JSON/, 'malformed'],
  ];

describe('jsonwebtoken failures, pinned against the installed version', () => {
  it('has every message the installed verify.js can throw in the table, and no other', () => {
    const require = createRequire(__filename);
    const source = readFileSync(require.resolve('jsonwebtoken/verify.js'), 'utf8');
    // `new JsonWebTokenError('text')`, `('text' + detail)`, `(`text ${detail}`)` and the subclasses.
    const thrown =
      /new (JsonWebTokenError|TokenExpiredError|NotBeforeError)\(\(?(['"`])((?:(?!\2).)*)\2(\s*\+)?/g;
    const upstream: string[] = [];
    for (const [, kind, , text = '', plus] of source.matchAll(thrown)) {
      const prefix = plus !== undefined || text.includes('${');
      upstream.push(`${kind} ${prefix ? `${text.split('${')[0]}...` : text}`);
    }
    const weft = [
      ...JWT_ERROR_MESSAGES.map(([m, , match]) => `JsonWebTokenError ${match === 'prefix' ? `${m}...` : m}`),
      ...JWT_EXPIRED_MESSAGES.map(([m]) => `TokenExpiredError ${m}`),
      'NotBeforeError jwt not active',
    ];
    expect([...new Set(upstream)].sort()).toEqual(weft.sort());
  });

  it.each(failures)(
    'maps %s to the exact reason',
    async (_what, token, key, options, errorClass, message, reason) => {
      const error = await verifyError(token(), key, options);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toBe(errorClass);
      if (typeof message === 'string') expect((error as Error).message).toBe(message);
      else expect((error as Error).message).toMatch(message);
      if (errorClass === 'JsonWebTokenError') {
        // Known to the table, not left to the "invalid" fallback.
        expect(jwtMessageRejection((error as Error).message)).toBeDefined();
      }
      expect(rejectionFor(error).reason).toBe(reason);
    },
  );

  it('produces every message of the table for real above', async () => {
    const produced = await Promise.all(
      failures.map(async ([, token, key, options]) => (await verifyError(token(), key, options)) as Error),
    );
    const messages = produced.map((e) => e.message);
    for (const [message, , match] of [...JWT_ERROR_MESSAGES, ...JWT_EXPIRED_MESSAGES]) {
      const hit = messages.some((m) => (match === 'prefix' ? m.startsWith(message) : m === message));
      expect(hit, message).toBe(true);
    }
  });

  it('says only "invalid" for errors it does not know', () => {
    expect(rejectionFor(new jwt.JsonWebTokenError('some new wording')).reason).toBe('invalid');
    expect(rejectionFor(new Error('invalid signature')).reason).toBe('invalid');
    expect(rejectionFor('not an error').reason).toBe('invalid');
  });
});

describe('jwtAuth reasons for real tokens over gRPC', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      serverInterceptors: [
        jwtAuth({
          keys: { secret: SECRET },
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          maxTokenAgeSeconds: 3600,
        }),
      ],
    });
  });
  afterAll(() => harness.close());

  const overGrpc: [string, () => string, string, string][] = [
    [
      'a wrong signature',
      () => hs256({}, {}).replace(/\.[^.]+$/, `.${'A'.repeat(43)}`),
      'bad_signature',
      'token signature is invalid',
    ],
    [
      'another secret',
      () => jwt.sign(claims({}), 'another-secret-entirely-32-bytes!!', { algorithm: 'HS256' }),
      'bad_signature',
      'token signature is invalid',
    ],
    [
      'an expired token',
      () => hs256({ exp: now() - 3600 }, { expiresIn: undefined }),
      'expired',
      'token expired',
    ],
    [
      'a token not yet valid',
      () => hs256({ nbf: now() + 3600 }),
      'not_yet_valid',
      'token not yet valid (nbf)',
    ],
    [
      'a token older than maxTokenAgeSeconds',
      () => hs256({ iat: now() - 7200, exp: now() + 300 }, { expiresIn: undefined }),
      'too_old',
      'token is older than the accepted maximum age',
    ],
    [
      'a token without iat',
      () => hs256({}, { noTimestamp: true }),
      'missing_claim',
      'token lacks required claim "iat"',
    ],
    [
      'another audience',
      () => hs256({}, { audience: 'other-service' }),
      'audience',
      'token audience not accepted',
    ],
    ['another issuer', () => hs256({}, { issuer: 'someone-else' }), 'issuer', 'token issuer not accepted'],
    ['a string exp', () => handSigned(claims({ exp: 'later' })), 'invalid', 'token is invalid'],
    ['a string nbf', () => handSigned(claims({ nbf: 'soon' })), 'invalid', 'token is invalid'],
    [
      'a payload that is not JSON',
      () => handSigned('just a string'),
      'malformed',
      'token payload is not a JSON object',
    ],
    [
      'an algorithm not allowed',
      () => hs256({}, { algorithm: 'HS512' }),
      'algorithm',
      'token algorithm not accepted',
    ],
  ];

  it.each(overGrpc)('refuses %s with the exact reason and message', async (_what, token, reason, details) => {
    const seen: AuthFailure[] = [];
    const listener = (failure: AuthFailure) => seen.push(failure);
    signals.authFailure.subscribe(listener);
    try {
      const result = await unary(
        harness.client,
        {},
        { metadata: metadata({ authorization: `Bearer ${token()}` }) },
      );
      expect(result.status.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(result.status.details).toBe(details);
    } finally {
      signals.authFailure.unsubscribe(listener);
    }
    expect(seen.map((f) => f.reason)).toEqual([reason]);
  });
});
