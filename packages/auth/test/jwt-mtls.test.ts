import * as grpc from '@grpc/grpc-js';
import { getCallContext, type Logger, serverInterceptors, serverLogging, subjectKey } from '@weft/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientStream,
  type Harness,
  METHODS,
  metadata,
  serverStream,
  startHarness,
  type TestServiceClient,
  unary,
} from '../../../test/harness';
import {
  authenticatedBy,
  authenticatedPeer,
  authIdentity,
  jwtAuth,
  type MethodPolicy,
  peerIdentity,
} from '../src/index';
import { makePki, SPIFFE_CLIENT, type TestPki } from './certs';
import { AUDIENCE, hs256, ISSUER, SECRET } from './keys';

/** One method per requirement; `Fail` keeps the default (each interceptor requires its own). */
const policy: Record<string, MethodPolicy> = {
  [METHODS.unary]: { credentials: 'both' },
  [METHODS.sleep]: { credentials: 'either', peers: [SPIFFE_CLIENT] },
  [METHODS.serverStream]: { credentials: 'peer' },
  [METHODS.clientStream]: { credentials: 'jwt', scopes: ['users:read'] },
};

function probe(): Record<string, string> {
  return {
    by: authenticatedBy() ?? '',
    peer: authenticatedPeer()?.id ?? '',
    sub: authIdentity()?.subject ?? '',
    subject: getCallContext()?.get(subjectKey) ?? '',
  };
}

const auth = () =>
  jwtAuth({ keys: { secret: SECRET }, algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, policy });
const bearer = (token = hs256()) => metadata({ authorization: `Bearer ${token}` });

describe('jwtAuth and peerIdentity together', () => {
  let pki: TestPki;
  let harness: Harness;
  let withCert: TestServiceClient;
  let withoutCert: TestServiceClient;
  const lines: Record<string, unknown>[] = [];
  beforeAll(async () => {
    pki = makePki();
    const write = (fields: Record<string, unknown>) => lines.push(fields);
    const logger: Logger = { debug: write, info: write, warn: write, error: write };
    harness = await startHarness({
      serverInterceptors: serverInterceptors({
        logging: serverLogging({ logger }),
        peerIdentity: peerIdentity({ policy }),
        auth: auth(),
      }),
      // Clients may connect without a certificate: the interceptors decide per method.
      serverCredentials: pki.serverCredentials(false),
      clientCredentials: pki.channel(pki.clients.spiffe),
      probe,
    });
    withCert = harness.client;
    withoutCert = harness.newClient(undefined, pki.channel());
  });
  afterAll(async () => {
    await harness.close();
    pki.remove();
  });

  type Row = [
    requirement: string,
    method: 'Unary' | 'Sleep' | 'Fail',
    cert: boolean,
    token: 'good' | 'bad' | 'none',
    code: grpc.status,
    by: string,
  ];
  const { OK, UNAUTHENTICATED } = grpc.status;
  it.each<Row>([
    ['both', 'Unary', true, 'good', OK, 'both'],
    ['both', 'Unary', false, 'good', UNAUTHENTICATED, ''],
    ['both', 'Unary', true, 'none', UNAUTHENTICATED, ''],
    ['both', 'Unary', true, 'bad', UNAUTHENTICATED, ''],
    ['either', 'Sleep', true, 'none', OK, 'peer'],
    ['either', 'Sleep', false, 'good', OK, 'jwt'],
    ['either', 'Sleep', true, 'good', OK, 'both'],
    ['either', 'Sleep', true, 'bad', UNAUTHENTICATED, ''],
    ['either', 'Sleep', false, 'none', UNAUTHENTICATED, ''],
    ['default (both)', 'Fail', false, 'good', UNAUTHENTICATED, ''],
    ['default (both)', 'Fail', true, 'none', UNAUTHENTICATED, ''],
  ])('%s: %s with cert=%s token=%s -> %s (%s)', async (_, method, cert, token, code, by) => {
    const md = token === 'none' ? new grpc.Metadata() : bearer(token === 'good' ? hs256() : `${hs256()}x`);
    const request =
      method === 'Fail' ? { failCode: grpc.status.ALREADY_EXISTS } : { message: 'x', sleepMs: 1 };
    const result = await unary(cert ? withCert : withoutCert, request, { metadata: md }, method);
    expect(result.status.code).toBe(code);
    if (code === OK) expect(result.responses[0]?.context?.by).toBe(by);
  });

  it('default policy admits a call with both credentials (the handler then fails it on purpose)', async () => {
    const result = await unary(
      withCert,
      { failCode: grpc.status.ALREADY_EXISTS },
      { metadata: bearer() },
      'Fail',
    );
    expect(result.status.code).toBe(grpc.status.ALREADY_EXISTS);
  });

  it('peer: the certificate alone is enough, a token is still verified if sent', async () => {
    const alone = await serverStream(withCert, { message: 'x', count: 1 });
    expect(alone.status.code).toBe(grpc.status.OK);
    expect(alone.responses[0]?.context).toMatchObject({ by: 'peer', subject: SPIFFE_CLIENT });
    const bad = await serverStream(withCert, { message: 'x', count: 1 }, { metadata: bearer(`${hs256()}x`) });
    expect(bad.status.code).toBe(grpc.status.UNAUTHENTICATED);
    const none = await serverStream(withoutCert, { message: 'x', count: 1 });
    expect(none.status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(none.status.details).toBe('a verified client certificate is required (mutual TLS)');
  });

  it('jwt: the token alone is enough; scopes still apply', async () => {
    const ok = await clientStream(withoutCert, [{ message: 'x' }], { metadata: bearer() });
    expect(ok.status.code).toBe(grpc.status.OK);
    expect(ok.responses[0]?.context).toMatchObject({ by: 'jwt', sub: 'alice', subject: 'alice' });
    const scope = await clientStream(withoutCert, [{ message: 'x' }], {
      metadata: bearer(hs256({ scope: 'other' })),
    });
    expect(scope.status.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('the end user is the subject when both are present; logs carry peer.identity beside auth.sub', async () => {
    lines.length = 0;
    const result = await unary(withCert, { message: 'x' }, { metadata: bearer() });
    expect(result.responses[0]?.context).toEqual({
      by: 'both',
      peer: SPIFFE_CLIENT,
      sub: 'alice',
      subject: 'alice',
    });
    expect(lines.at(-1)).toMatchObject({ 'peer.identity': SPIFFE_CLIENT, 'auth.sub': 'alice' });
  });

  it('either: a workload not on the list is denied even with a good token', async () => {
    const other = harness.newClient(undefined, pki.channel(pki.clients.dns));
    const result = await unary(other, { sleepMs: 1 }, { metadata: bearer() }, 'Sleep');
    expect(result.status.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('missing both credentials on `either` says what is missing', async () => {
    const result = await unary(withoutCert, { sleepMs: 1 }, {}, 'Sleep');
    expect(result.status.details).toBe(
      'missing credentials: a bearer token or a client certificate is required',
    );
  });
});

describe('jwtAuth without peerIdentity fails closed', () => {
  let pki: TestPki;
  let harness: Harness;
  beforeAll(async () => {
    pki = makePki();
    harness = await startHarness({
      serverInterceptors: [auth()],
      serverCredentials: pki.serverCredentials(true),
      clientCredentials: pki.channel(pki.clients.spiffe),
      probe,
    });
  });
  afterAll(async () => {
    await harness.close();
    pki.remove();
  });

  it('`peer`, `either` and `both` admit no call on a certificate nobody checked', async () => {
    // A valid client certificate is on the connection, but no peerIdentity layer vouched for it.
    expect((await serverStream(harness.client, { message: 'x', count: 1 })).status.code).toBe(
      grpc.status.UNAUTHENTICATED,
    );
    expect((await unary(harness.client, { sleepMs: 1 }, {}, 'Sleep')).status.code).toBe(
      grpc.status.UNAUTHENTICATED,
    );
    expect((await unary(harness.client, { message: 'x' }, { metadata: bearer() })).status.code).toBe(
      grpc.status.UNAUTHENTICATED,
    );
    // The token alone still works where it is enough.
    expect((await unary(harness.client, { sleepMs: 1 }, { metadata: bearer() }, 'Sleep')).status.code).toBe(
      grpc.status.OK,
    );
  });
});
