import * as grpc from '@grpc/grpc-js';
import { type Logger, serverInterceptors, serverLogging, signals } from '@weft/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, METHODS, SHAPES, startHarness, testProto, unary } from '../../../test/harness';
import {
  authenticatedBy,
  authenticatedPeer,
  type PeerIdentity,
  type PeerIdentityOptions,
  peerIdentity,
} from '../src/index';
import { spiffeTrustDomain, splitAltNames } from '../src/peer-certificate';
import { makePki, SPIFFE_CLIENT, SPIFFE_OTHER, type TestPki } from './certs';

let pki: TestPki;
beforeAll(() => {
  pki = makePki();
});
afterAll(() => pki.remove());

/** Identities the handlers saw, in call order: the tests check what the cache shares. */
const seen: (PeerIdentity | undefined)[] = [];
function peerProbe(): Record<string, string> {
  const peer = authenticatedPeer();
  seen.push(peer);
  return {
    peer: peer?.id ?? '',
    source: peer?.source ?? '',
    trustDomain: peer?.trustDomain ?? '',
    by: authenticatedBy() ?? '',
  };
}

async function tlsHarness(
  options: PeerIdentityOptions = {},
  requireClientCertificate = false,
  extra: Partial<Parameters<typeof startHarness>[0]> = {},
): Promise<Harness> {
  return startHarness({
    serverInterceptors: [peerIdentity(options)],
    serverCredentials: pki.serverCredentials(requireClientCertificate),
    clientCredentials: pki.channel(pki.clients.spiffe),
    probe: peerProbe,
    ...extra,
  });
}

/** Collects the `authFailure` signal's reasons while `fn` runs. */
async function reasons(fn: () => Promise<unknown>): Promise<string[]> {
  const out: string[] = [];
  const listener = (failure: { reason: string }) => out.push(failure.reason);
  signals.authFailure.subscribe(listener);
  try {
    await fn();
  } finally {
    signals.authFailure.unsubscribe(listener);
  }
  return out;
}

describe('peerIdentity over real mTLS', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await tlsHarness({
      policy: { [METHODS.sleep]: { trustDomains: ['other.example'] } },
    });
  });
  afterAll(() => harness.close());

  it.each(Object.entries(SHAPES))('puts the SPIFFE ID on the context of a %s call', async (_, call) => {
    const result = await call(harness.client, { message: 'hi' });
    expect(result.status.code).toBe(grpc.status.OK);
    expect(result.responses.at(-1)?.context).toEqual({
      peer: SPIFFE_CLIENT,
      source: 'uri',
      trustDomain: 'example.org',
      by: 'peer',
    });
  });

  it('parses a connection’s certificate once: its calls share one identity object', async () => {
    seen.length = 0;
    await unary(harness.client, { message: 'a' });
    await unary(harness.client, { message: 'b' });
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBeDefined();
    expect(seen[1]).toBe(seen[0]);
  });

  it.each([
    ['a DNS SAN', 'dns', 'billing.internal', 'dns'],
    ['the subject CN', 'cn', 'reporting', 'cn'],
    ['the DNS SAN before the CN', 'cnAndSan', 'billing.internal', 'dns'],
  ] as const)('reads %s when there is no URI SAN', async (_, which, id, source) => {
    const client = harness.newClient(undefined, pki.channel(pki.clients[which]));
    const result = await unary(client, { message: 'x' });
    expect(result.status.code).toBe(grpc.status.OK);
    expect(result.responses[0]?.context).toMatchObject({ peer: id, source, trustDomain: '' });
  });

  it('refuses a call without a client certificate with UNAUTHENTICATED, and says why', async () => {
    const client = harness.newClient(undefined, pki.channel());
    let result: Awaited<ReturnType<typeof unary>> | undefined;
    const why = await reasons(async () => {
      result = await unary(client, { message: 'x' });
    });
    expect(result?.status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(result?.status.details).toBe('a verified client certificate is required (mutual TLS)');
    expect(why).toEqual(['missing_client_cert']);
  });

  it('refuses a workload outside the method’s trust domains with PERMISSION_DENIED', async () => {
    let denied: Awaited<ReturnType<typeof unary>> | undefined;
    const why = await reasons(async () => {
      denied = await unary(harness.client, { sleepMs: 1 }, {}, 'Sleep');
    });
    expect(denied?.status.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied?.status.details).toBe('calling workload is not allowed to call this method');
    expect(why).toEqual(['peer_not_allowed']);
    const other = harness.newClient(undefined, pki.channel(pki.clients.otherDomain));
    const allowed = await unary(other, { sleepMs: 1 }, {}, 'Sleep');
    expect(allowed.status.code).toBe(grpc.status.OK);
    expect(allowed.responses[0]?.context).toMatchObject({ peer: SPIFFE_OTHER, trustDomain: 'other.example' });
  });

  it.each([
    ['two URI SANs', 'twoUris', 'ambiguous_peer_identity'],
    ['a malformed SPIFFE ID', 'badSpiffe', 'bad_spiffe_id'],
    ['no name at all', 'nothing', 'no_peer_identity'],
  ] as const)('refuses a certificate with %s with UNAUTHENTICATED', async (_, which, reason) => {
    const client = harness.newClient(undefined, pki.channel(pki.clients[which]));
    let result: Awaited<ReturnType<typeof unary>> | undefined;
    const why = await reasons(async () => {
      result = await unary(client, { message: 'x' });
    });
    expect(result?.status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(why).toEqual([reason]);
  });
});

describe('peerIdentity policy and options', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('allows exactly the listed workloads of a method, PERMISSION_DENIED for the others', async () => {
    harness = await tlsHarness({ policy: { [METHODS.unary]: { peers: ['billing.internal'] } } });
    const listed = harness.newClient(undefined, pki.channel(pki.clients.dns));
    expect((await unary(listed, { message: 'x' })).status.code).toBe(grpc.status.OK);
    expect((await unary(harness.client, { message: 'x' })).status.code).toBe(grpc.status.PERMISSION_DENIED);
    // Other methods have no list: any verified workload.
    expect((await unary(harness.client, { sleepMs: 1 }, {}, 'Sleep')).status.code).toBe(grpc.status.OK);
  });

  it('lets public methods and `requireClientCertificate: false` through without a certificate', async () => {
    harness = await tlsHarness({
      requireClientCertificate: false,
      policy: { [METHODS.sleep]: { public: true } },
    });
    const anonymous = harness.newClient(undefined, pki.channel());
    const result = await unary(anonymous, { message: 'x' });
    expect(result.status.code).toBe(grpc.status.OK);
    expect(result.responses[0]?.context).toMatchObject({ peer: '', by: '' });
    // With a certificate the identity is still read.
    expect((await unary(harness.client, { message: 'x' })).responses[0]?.context).toMatchObject({
      peer: SPIFFE_CLIENT,
    });
  });

  it('reads the configured sources only: `identityFrom: ["cn"]` ignores the SANs', async () => {
    harness = await tlsHarness({ identityFrom: ['cn'] });
    const client = harness.newClient(undefined, pki.channel(pki.clients.cnAndSan));
    expect((await unary(client, { message: 'x' })).responses[0]?.context).toMatchObject({
      peer: 'reporting',
      source: 'cn',
    });
    // The SPIFFE client has no CN: nothing usable.
    expect((await unary(harness.client, { message: 'x' })).status.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('refuses calls on a connection that outlived its client certificate', async () => {
    let clock = Date.now();
    harness = await tlsHarness({ now: () => clock });
    expect((await unary(harness.client, { message: 'x' })).status.code).toBe(grpc.status.OK);
    clock += 31 * 86_400_000; // past the certificate's 30 days, same connection
    let result: Awaited<ReturnType<typeof unary>> | undefined;
    const why = await reasons(async () => {
      result = await unary(harness!.client, { message: 'x' });
    });
    expect(result?.status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(result?.status.details).toBe('client certificate expired');
    expect(why).toEqual(['peer_certificate_expired']);
  });

  it('has the last word through `authorize`; a throwing hook denies', async () => {
    harness = await tlsHarness({
      authorize: (peer, context) => {
        if (context.method.method === 'Sleep') throw new Error('broken');
        return peer.trustDomain === 'example.org';
      },
    });
    expect((await unary(harness.client, { message: 'x' })).status.code).toBe(grpc.status.OK);
    expect((await unary(harness.client, { sleepMs: 1 }, {}, 'Sleep')).status.code).toBe(
      grpc.status.PERMISSION_DENIED,
    );
    const other = harness.newClient(undefined, pki.channel(pki.clients.otherDomain));
    expect((await unary(other, { message: 'x' })).status.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('adds `peer.identity` to the log line of the call', async () => {
    const lines: Record<string, unknown>[] = [];
    const write = (fields: Record<string, unknown>) => lines.push(fields);
    const logger: Logger = { debug: write, info: write, warn: write, error: write };
    harness = await startHarness({
      serverInterceptors: serverInterceptors({
        logging: serverLogging({ logger }),
        peerIdentity: peerIdentity(),
      }),
      serverCredentials: pki.serverCredentials(false),
      clientCredentials: pki.channel(pki.clients.spiffe),
    });
    await unary(harness.client, { message: 'x' });
    expect(lines.at(-1)).toMatchObject({ 'peer.identity': SPIFFE_CLIENT, 'grpc.code': 'OK' });
  });

  it('refuses an `identityFrom` outside uri, dns, cn at setup', () => {
    expect(() => peerIdentity({ identityFrom: [] })).toThrow(/identityFrom/);
    expect(() => peerIdentity({ identityFrom: ['email' as 'uri'] })).toThrow(/identityFrom/);
  });
});

describe('bad client certificates (hostile input)', () => {
  const bad = ['expired', 'notYetValid', 'wrongCa'] as const;

  describe('against a server that requires a client certificate', () => {
    let harness: Harness;
    beforeAll(async () => {
      harness = await tlsHarness({}, true);
    });
    afterAll(() => harness.close());

    it.each([...bad, 'none'] as const)(
      'fails the handshake of a %s client certificate (UNAVAILABLE) and keeps serving',
      async (which) => {
        const client = harness.newClient(
          undefined,
          pki.channel(which === 'none' ? undefined : pki.clients[which]),
        );
        const before = harness.handled.get('Unary') ?? 0;
        const result = await unary(client, { message: 'x' }, { deadline: Date.now() + 5000 });
        expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
        expect(harness.handled.get('Unary') ?? 0).toBe(before);
        // The server is unharmed: a good client's call goes through.
        expect((await unary(harness.client, { message: 'ok' })).status.code).toBe(grpc.status.OK);
      },
    );
  });

  describe('against a server that asks for one and lets peerIdentity decide', () => {
    let harness: Harness;
    beforeAll(async () => {
      harness = await tlsHarness({ policy: { '*': { peers: [SPIFFE_CLIENT] } } }, false);
    });
    afterAll(() => harness.close());

    it.each(bad)(
      'refuses a %s client certificate with UNAUTHENTICATED (it is not verified)',
      async (which) => {
        const client = harness.newClient(undefined, pki.channel(pki.clients[which]));
        const result = await unary(client, { message: 'x' });
        expect(result.status.code).toBe(grpc.status.UNAUTHENTICATED);
        expect(result.status.details).toBe('a verified client certificate is required (mutual TLS)');
        expect((await unary(harness.client, { message: 'ok' })).status.code).toBe(grpc.status.OK);
      },
    );

    it('refuses a valid certificate with the wrong SAN with PERMISSION_DENIED', async () => {
      const client = harness.newClient(undefined, pki.channel(pki.clients.otherDomain));
      const result = await unary(client, { message: 'x' });
      expect(result.status.code).toBe(grpc.status.PERMISSION_DENIED);
      expect((await unary(harness.client, { message: 'ok' })).status.code).toBe(grpc.status.OK);
    });
  });

  it('a client refuses a server whose certificate does not name the target (UNAVAILABLE)', async () => {
    const harness = await tlsHarness();
    try {
      const wrongName = new (testProto().weft.test.TestService)(
        `localhost:${harness.port}`,
        pki.channel(pki.clients.spiffe),
        { 'grpc.ssl_target_name_override': 'billing.internal' },
      );
      const result = await unary(wrongName, { message: 'x' }, { deadline: Date.now() + 5000 });
      wrongName.close();
      expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
      expect(result.status.details).toMatch(/altnames|Hostname|IP/i);
    } finally {
      await harness.close();
    }
  });
});

describe('certificate name parsing', () => {
  it('splits Node’s subjectaltname string, quoted values included', () => {
    expect(splitAltNames('DNS:a.example, URI:spiffe://td/x, IP Address:127.0.0.1')).toEqual([
      ['DNS', 'a.example'],
      ['URI', 'spiffe://td/x'],
      ['IP Address', '127.0.0.1'],
    ]);
    // A comma inside a value cannot inject a second name: Node quotes it.
    expect(splitAltNames('URI:"spiffe://td/x, URI:spiffe://evil/y", DNS:b')).toEqual([
      ['URI', 'spiffe://td/x, URI:spiffe://evil/y'],
      ['DNS', 'b'],
    ]);
    expect(splitAltNames('URI:"unterminated')).toBeUndefined();
    expect(splitAltNames('no-colon')).toBeUndefined();
  });

  it.each([
    ['spiffe://example.org/ns/a/sa/b', 'example.org'],
    ['spiffe://example.org', 'example.org'],
    ['spiffe://Example.org/a', undefined],
    ['spiffe://example.org/', undefined],
    ['spiffe://example.org//a', undefined],
    ['spiffe://example.org/a/../b', undefined],
    ['spiffe://example.org:443/a', undefined],
    ['spiffe://user@example.org/a', undefined],
    ['spiffe://example.org/a?x=1', undefined],
    ['spiffe:///a', undefined],
    ['https://example.org/a', undefined],
    [`spiffe://example.org/${'a'.repeat(2100)}`, undefined],
  ])('spiffeTrustDomain(%s) = %s', (uri, expected) => {
    expect(spiffeTrustDomain(uri)).toBe(expected);
  });
});
