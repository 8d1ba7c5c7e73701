/** Real certificates for the TLS tests, made at test time with Debian's openssl in a temp dir. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { DevCa, type IssuedCertificate } from '../../../examples/user-service/src/dev-certs';
import { tlsChannelCredentials, tlsServerCredentials } from '../src/index';

export const SPIFFE_CLIENT = 'spiffe://example.org/ns/demo/sa/client';
export const SPIFFE_OTHER = 'spiffe://other.example/ns/x/sa/y';
const DAY = 86_400_000;

export interface TestPki {
  readonly dir: string;
  readonly ca: DevCa;
  readonly otherCa: DevCa;
  readonly server: IssuedCertificate;
  /** Client certificates by what is special about them. */
  readonly clients: {
    spiffe: IssuedCertificate;
    otherDomain: IssuedCertificate;
    dns: IssuedCertificate;
    cn: IssuedCertificate;
    cnAndSan: IssuedCertificate;
    nothing: IssuedCertificate;
    twoUris: IssuedCertificate;
    badSpiffe: IssuedCertificate;
    expired: IssuedCertificate;
    notYetValid: IssuedCertificate;
    wrongCa: IssuedCertificate;
  };
  /** Channel credentials trusting `ca`, presenting `client` (none: TLS without a client certificate). */
  channel(client?: IssuedCertificate, caFile?: string): grpc.ChannelCredentials;
  /** Server credentials with `server`'s certificate, trusting `ca` for client certificates. */
  serverCredentials(requireClientCertificate: boolean): grpc.ServerCredentials;
  remove(): void;
}

export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'weft-tls-'));
  const ca = DevCa.create(dir, 'ca');
  const otherCa = DevCa.create(dir, 'other-ca');
  const now = Date.now();
  const server = ca.issue('server', { dnsNames: ['localhost'], ips: ['127.0.0.1'], usage: 'server' });
  const client = (name: string, request: Parameters<DevCa['issue']>[1]) =>
    ca.issue(name, { usage: 'client', ...request });
  const clients = {
    spiffe: client('spiffe', { uris: [SPIFFE_CLIENT] }),
    otherDomain: client('other-domain', { uris: [SPIFFE_OTHER] }),
    dns: client('dns', { dnsNames: ['billing.internal'] }),
    cn: client('cn', { commonName: 'reporting' }),
    cnAndSan: client('cn-and-san', { commonName: 'reporting', dnsNames: ['billing.internal'] }),
    nothing: client('nothing', {}),
    twoUris: client('two-uris', { uris: [SPIFFE_CLIENT, 'spiffe://example.org/ns/demo/sa/admin'] }),
    badSpiffe: client('bad-spiffe', { uris: ['spiffe://Example.ORG/ns/../sa'] }),
    expired: client('expired', {
      uris: [SPIFFE_CLIENT],
      notBefore: new Date(now - 2 * DAY),
      notAfter: new Date(now - DAY),
    }),
    notYetValid: client('not-yet-valid', {
      uris: [SPIFFE_CLIENT],
      notBefore: new Date(now + DAY),
      notAfter: new Date(now + 2 * DAY),
    }),
    wrongCa: otherCa.issue('wrong-ca', { uris: [SPIFFE_CLIENT], usage: 'client' }),
  };
  return {
    dir,
    ca,
    otherCa,
    server,
    clients,
    channel: (issued, caFile = ca.certFile) =>
      tlsChannelCredentials({
        files:
          issued === undefined ? { caFile } : { caFile, certFile: issued.certFile, keyFile: issued.keyFile },
      }),
    serverCredentials: (requireClientCertificate) =>
      tlsServerCredentials({
        files: { certFile: server.certFile, keyFile: server.keyFile, caFile: ca.certFile },
        requireClientCertificate,
      }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
