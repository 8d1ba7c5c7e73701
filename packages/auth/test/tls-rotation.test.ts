import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DevCa, type IssuedCertificate } from '../../../examples/user-service/src/dev-certs';
import { type Harness, startHarness, type TestServiceClient, unary } from '../../../test/harness';
import {
  authenticatedPeer,
  CertificateFiles,
  peerIdentity,
  tlsChannelCredentials,
  tlsServerCredentials,
} from '../src/index';

/** The serial of the certificate the server presented on `client`'s connection (one call to learn it). */
function serverSerial(client: TestServiceClient): Promise<string> {
  return new Promise((resolve, reject) => {
    const call = client.Unary({ message: 'serial' }, (error) => {
      if (error) reject(error);
    });
    call.on('status', () => {
      const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
      if (raw === undefined) reject(new Error('no server certificate'));
      else resolve(new X509Certificate(raw).serialNumber);
    });
  });
}

/** grpc-js shares connections between channels with equal credentials: this client gets its own. */
const FRESH: grpc.ClientOptions = { 'grpc.use_local_subchannel_pool': 1 };

const serial = (issued: IssuedCertificate) => new X509Certificate(issued.cert).serialNumber;

/** Moves a staged certificate into place the way a secret mount or cert-manager does: key, then certificate. */
function install(staged: IssuedCertificate, live: { certFile: string; keyFile: string }): void {
  renameSync(staged.keyFile, live.keyFile);
  renameSync(staged.certFile, live.certFile);
}

/** What `underLoad` counted: calls by status, and the calls made on a new connection. */
interface LoadCounts {
  readonly codes: Map<grpc.status, number>;
  readonly details: string[];
  handshakes: number;
}

/**
 * Steady load while `during` runs: two loops of unary calls on one long-lived client, plus
 * two loops that open a new connection (a new client) for every call, so handshakes happen
 * throughout. `during` gets `progress(calls, handshakes)`, resolving once that many more calls
 * and new-connection calls have completed (events, not sleeps). Resolves with the counts.
 */
async function underLoad(
  harness: Harness,
  credentials: grpc.ChannelCredentials,
  during: (progress: (calls: number, handshakes: number) => Promise<void>) => Promise<void>,
): Promise<LoadCounts> {
  const counts: LoadCounts = { codes: new Map(), details: [], handshakes: 0 };
  let calls = 0;
  let waiter: { calls: number; handshakes: number; resolve: () => void } | undefined;
  let running = true;
  const record = (status: grpc.StatusObject, handshake: boolean) => {
    calls++;
    if (handshake) counts.handshakes++;
    counts.codes.set(status.code, (counts.codes.get(status.code) ?? 0) + 1);
    if (status.code !== grpc.status.OK) counts.details.push(status.details);
    if (waiter !== undefined && calls >= waiter.calls && counts.handshakes >= waiter.handshakes) {
      waiter.resolve();
      waiter = undefined;
    }
  };
  const progress = (moreCalls: number, moreHandshakes: number) =>
    new Promise<void>((resolve) => {
      waiter = { calls: calls + moreCalls, handshakes: counts.handshakes + moreHandshakes, resolve };
    });
  const steady = async () => {
    while (running) record((await unary(harness.client, { message: 'load' })).status, false);
  };
  const fresh = async () => {
    while (running) {
      const client = harness.newClient(FRESH, credentials);
      record(
        (await unary(client, { message: 'new connection' }, { deadline: Date.now() + 5000 })).status,
        true,
      );
      client.close();
    }
  };
  const loops = [steady(), steady(), fresh(), fresh()];
  try {
    await during(progress);
  } finally {
    running = false;
    await Promise.all(loops);
  }
  return counts;
}

/** Resolves on the next `onUpdate` of files built with `updates.listener`. */
function updates() {
  let waiting: (() => void) | undefined;
  return {
    listener: () => waiting?.(),
    next: () =>
      new Promise<void>((resolve) => {
        waiting = resolve;
      }),
  };
}

describe('certificate rotation without a restart', () => {
  let dir: string;
  let ca: DevCa;
  let harness: Harness | undefined;
  let files: CertificateFiles[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'weft-rotation-'));
    ca = DevCa.create(dir, 'ca');
  });
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    for (const f of files) f.close();
    files = [];
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const server = (name: string) =>
    ca.issue(name, { dnsNames: ['localhost'], ips: ['127.0.0.1'], usage: 'server' });
  const client = (name: string, id: string) => ca.issue(name, { uris: [id], usage: 'client' });

  it('a rotated server certificate applies to new connections under load, with no failed call', async () => {
    const live = server('rot-server');
    const staged = [server('rot-server-2'), server('rot-server-3')];
    const clientCert = client('rot-client', 'spiffe://example.org/ns/load/sa/client');
    const seen = updates();
    const errors: Error[] = [];
    const serverFiles = new CertificateFiles({
      certFile: live.certFile,
      keyFile: live.keyFile,
      caFile: ca.certFile,
      refreshIntervalMs: 5,
      onUpdate: seen.listener,
      onError: (e) => errors.push(e),
    });
    files.push(serverFiles);
    const channel = tlsChannelCredentials({
      files: { caFile: ca.certFile, certFile: clientCert.certFile, keyFile: clientCert.keyFile },
    });
    harness = await startHarness({
      serverInterceptors: [peerIdentity()],
      serverCredentials: tlsServerCredentials({ files: serverFiles }),
      clientCredentials: channel,
    });
    const h = harness;
    expect(await serverSerial(h.newClient(FRESH, channel))).toBe(serial(live));

    const result = await underLoad(h, channel, async (progress) => {
      for (const next of staged) {
        // Calls and handshakes on the current certificate first.
        await progress(20, 4);
        const updated = seen.next();
        install(next, live);
        await updated;
        // A new connection now gets the new certificate; the long-lived one keeps working.
        expect(await serverSerial(h.newClient(FRESH, channel))).toBe(serial(next));
      }
      await progress(20, 4);
    });
    expect(result.details).toEqual([]);
    expect([...result.codes.keys()]).toEqual([grpc.status.OK]);
    expect(result.codes.get(grpc.status.OK)).toBeGreaterThanOrEqual(60);
    expect(result.handshakes).toBeGreaterThanOrEqual(12);
    // A read between the two renames sees the new key beside the old certificate: refused, not served.
    for (const e of errors) expect(e.message).toMatch(/private key does not belong/);
  });

  it('a CA rotation with an overlap bundle, under load: no failed call, new connections on the new CA', async () => {
    const nextCa = DevCa.create(dir, 'next-ca');
    const serverCert = server('overlap-server');
    const bundle = join(dir, 'overlap-bundle.crt');
    const writeBundle = (...cas: DevCa[]) => {
      writeFileSync(`${bundle}.tmp`, Buffer.concat(cas.map((c) => c.cert)));
      renameSync(`${bundle}.tmp`, bundle);
    };
    writeBundle(ca);
    const live = client('overlap-client', 'spiffe://example.org/ns/a/sa/rotating');
    const staged = nextCa.issue('overlap-client-next', {
      uris: ['spiffe://example.org/ns/a/sa/rotating'],
      usage: 'client',
    });
    const serverFiles = new CertificateFiles({
      certFile: serverCert.certFile,
      keyFile: serverCert.keyFile,
      caFile: bundle,
      refreshIntervalMs: 0,
    });
    const clientFiles = new CertificateFiles({
      certFile: live.certFile,
      keyFile: live.keyFile,
      caFile: ca.certFile,
      refreshIntervalMs: 0,
    });
    files.push(serverFiles, clientFiles);
    const channel = tlsChannelCredentials({ files: clientFiles });
    const issuers: string[] = [];
    harness = await startHarness({
      serverInterceptors: [peerIdentity()],
      serverCredentials: tlsServerCredentials({ files: serverFiles }),
      clientCredentials: channel,
      probe: () => ({ fingerprint: authenticatedPeer()?.fingerprint ?? '' }),
    });
    const h = harness;
    const fingerprint = async () =>
      (await unary(h.newClient(FRESH, channel), { message: 'x' })).responses[0]?.context.fingerprint;
    const result = await underLoad(h, channel, async (progress) => {
      await progress(20, 4);
      writeBundle(ca, nextCa); // 1. the server trusts both CAs
      expect(await serverFiles.reload()).toBe(true);
      await progress(20, 4);
      install(staged, live); // 2. clients move to certificates of the new CA
      expect(await clientFiles.reload()).toBe(true);
      issuers.push(String(await fingerprint()));
      await progress(20, 4);
      writeBundle(nextCa); // 3. the old CA is retired
      expect(await serverFiles.reload()).toBe(true);
      await progress(20, 4);
    });
    expect(result.details).toEqual([]);
    expect([...result.codes.keys()]).toEqual([grpc.status.OK]);
    // New connections present the new certificate.
    expect(issuers).toEqual([new X509Certificate(staged.cert).fingerprint256]);
  });

  it('a rotated client certificate applies to the client’s new connections', async () => {
    const serverCert = server('cli-server');
    const live = client('cli-client', 'spiffe://example.org/ns/a/sa/old');
    const staged = client('cli-client-2', 'spiffe://example.org/ns/a/sa/new');
    const seen = updates();
    const clientFiles = new CertificateFiles({
      certFile: live.certFile,
      keyFile: live.keyFile,
      caFile: ca.certFile,
      refreshIntervalMs: 0,
      onUpdate: seen.listener,
    });
    files.push(clientFiles);
    const channel = tlsChannelCredentials({ files: clientFiles });
    harness = await startHarness({
      serverInterceptors: [peerIdentity()],
      serverCredentials: tlsServerCredentials({
        files: { certFile: serverCert.certFile, keyFile: serverCert.keyFile, caFile: ca.certFile },
      }),
      clientCredentials: channel,
      probe: () => ({ peer: authenticatedPeer()?.id ?? '' }),
    });
    expect((await unary(harness.client, { message: 'x' })).responses[0]?.context.peer).toBe(
      'spiffe://example.org/ns/a/sa/old',
    );
    install(staged, live);
    expect(await clientFiles.reload()).toBe(true);
    const fresh = harness.newClient(FRESH, channel);
    expect((await unary(fresh, { message: 'x' })).responses[0]?.context.peer).toBe(
      'spiffe://example.org/ns/a/sa/new',
    );
    // Nothing changed since: a reload is a no-op.
    expect(await clientFiles.reload()).toBe(false);
  });

  it('a CA rotation revokes the old CA’s client certificates, on open connections too (`trust`); the server keeps serving', async () => {
    const newCa = DevCa.create(dir, 'new-ca');
    const serverCert = server('ca-server');
    const bundle = join(dir, 'trusted-clients.crt');
    copyFileSync(ca.certFile, bundle);
    const oldClient = client('ca-old-client', 'spiffe://example.org/ns/a/sa/old');
    const newClient = newCa.issue('ca-new-client', {
      uris: ['spiffe://example.org/ns/a/sa/new'],
      usage: 'client',
    });
    const serverFiles = new CertificateFiles({
      certFile: serverCert.certFile,
      keyFile: serverCert.keyFile,
      caFile: bundle,
      refreshIntervalMs: 0,
    });
    files.push(serverFiles);
    harness = await startHarness({
      serverInterceptors: [peerIdentity({ trust: serverFiles })],
      serverCredentials: tlsServerCredentials({ files: serverFiles }),
      // Clients trust the (unchanged) server certificate's CA.
      clientCredentials: tlsChannelCredentials({
        files: { caFile: ca.certFile, certFile: oldClient.certFile, keyFile: oldClient.keyFile },
      }),
    });
    const withNew = () =>
      tlsChannelCredentials({
        files: { caFile: ca.certFile, certFile: newClient.certFile, keyFile: newClient.keyFile },
      });
    const withOld = () =>
      tlsChannelCredentials({
        files: { caFile: ca.certFile, certFile: oldClient.certFile, keyFile: oldClient.keyFile },
      });
    // A connection opened before the rotation (the harness's own client) and kept open.
    expect((await unary(harness.client, { message: 'x' })).status.code).toBe(grpc.status.OK);
    expect(
      (
        await unary(
          harness.newClient(undefined, withNew()),
          { message: 'x' },
          { deadline: Date.now() + 5000 },
        )
      ).status.code,
    ).toBe(grpc.status.UNAVAILABLE);

    copyFileSync(newCa.certFile, `${bundle}.tmp`);
    renameSync(`${bundle}.tmp`, bundle);
    expect(await serverFiles.reload()).toBe(true);

    const revoked = await unary(
      harness.newClient(undefined, withOld()),
      { message: 'x' },
      { deadline: Date.now() + 5000 },
    );
    expect(revoked.status.code).toBe(grpc.status.UNAVAILABLE);
    // The open connection was verified against the old CA; `trust` refuses its calls now.
    const open = await unary(harness.client, { message: 'x' });
    expect(open.status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(open.status.details).toBe('client certificate is no longer trusted (CA rotated)');
    expect((await unary(harness.newClient(undefined, withNew()), { message: 'x' })).status.code).toBe(
      grpc.status.OK,
    );
  });

  it('keeps the last good certificates when a reload finds a missing file or a mismatched key', async () => {
    const live = server('keep-server');
    const other = server('keep-other');
    const errors: string[] = [];
    const serverFiles = new CertificateFiles({
      certFile: live.certFile,
      keyFile: live.keyFile,
      caFile: ca.certFile,
      refreshIntervalMs: 0,
      onError: (e) => errors.push(e.message),
    });
    files.push(serverFiles);
    const channel = tlsChannelCredentials({ files: { caFile: ca.certFile } });
    harness = await startHarness({
      serverCredentials: tlsServerCredentials({ files: serverFiles, requireClientCertificate: false }),
      clientCredentials: channel,
    });
    // The key of another certificate, as a rotation caught half-way leaves it.
    renameSync(other.keyFile, live.keyFile);
    expect(await serverFiles.reload()).toBe(false);
    rmSync(live.certFile);
    expect(await serverFiles.reload()).toBe(false);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/private key does not belong/);
    expect(errors[1]).toMatch(/ENOENT/);
    // New connections still get the last good certificate.
    expect(await serverSerial(harness.newClient(FRESH, channel))).toBe(serial(live));
  });

  it('(why not grpc-js’s FileWatcherCertificateProvider) it serves a half-rotated set and drops new connections', async () => {
    const live = server('fw-server');
    const other = server('fw-other');
    const watcher = new grpc.experimental.FileWatcherCertificateProvider({
      certificateFile: live.certFile,
      privateKeyFile: live.keyFile,
      caCertificateFile: ca.certFile,
      refreshIntervalMs: 20,
    });
    let reads = 0;
    let nextRead: (() => void) | undefined;
    const listener = () => {
      reads++;
      nextRead?.();
    };
    watcher.addIdentityCertificateListener(listener);
    const read = () =>
      new Promise<void>((resolve) => {
        nextRead = resolve;
      });
    await read();
    harness = await startHarness({
      serverCredentials: grpc.experimental.createCertificateProviderServerCredentials(
        watcher,
        null as never,
        false,
      ),
      clientCredentials: tlsChannelCredentials({ files: { caFile: ca.certFile } }),
    });
    const channel = tlsChannelCredentials({ files: { caFile: ca.certFile } });
    expect((await unary(harness.newClient(FRESH, channel), { message: 'x' })).status.code).toBe(
      grpc.status.OK,
    );
    renameSync(other.keyFile, live.keyFile); // the key has moved, the certificate not yet
    await read();
    await read();
    const during = await unary(
      harness.newClient(FRESH, channel),
      { message: 'x' },
      { deadline: Date.now() + 3000 },
    );
    watcher.removeIdentityCertificateListener(listener);
    expect(reads).toBeGreaterThan(2);
    expect(during.status.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('serves TLS without asking for client certificates when given no CA', async () => {
    const serverCert = server('tls-only');
    const clientCert = client('tls-only-client', 'spiffe://example.org/ns/a/sa/b');
    harness = await startHarness({
      serverInterceptors: [peerIdentity({ requireClientCertificate: false })],
      serverCredentials: tlsServerCredentials({
        files: { certFile: serverCert.certFile, keyFile: serverCert.keyFile },
      }),
      clientCredentials: tlsChannelCredentials({
        files: { caFile: ca.certFile, certFile: clientCert.certFile, keyFile: clientCert.keyFile },
      }),
      probe: () => ({ peer: authenticatedPeer()?.id ?? 'none' }),
    });
    // The client has a certificate, but the server never asked for it.
    const result = await unary(harness.client, { message: 'x' });
    expect(result.status.code).toBe(grpc.status.OK);
    expect(result.responses[0]?.context.peer).toBe('none');
    expect(() =>
      tlsServerCredentials({
        files: { certFile: serverCert.certFile, keyFile: serverCert.keyFile },
        requireClientCertificate: true,
      }),
    ).toThrow(/caFile/);
  });
});
