import * as grpc from '@grpc/grpc-js';
import { CertificateFiles, type CertificateFilesOptions } from './certificate-files';

export interface ServerTlsOptions {
  /** The server's certificate and key (required) and the CA client certificates must chain to (for mTLS). */
  files: CertificateFiles | CertificateFilesOptions;
  /**
   * Refuse the TLS handshake of a client without a certificate that chains to the CA. Default
   * `true` when the files have a CA. With `false` clients are asked for a certificate but may
   * connect without one; `peerIdentity()` then decides per method (UNAUTHENTICATED where required).
   * Without a CA no client certificate is asked for (TLS only).
   */
  requireClientCertificate?: boolean;
}

export interface ChannelTlsOptions {
  /** The CA the server's certificate must chain to (required) and this client's certificate and key (for mTLS). */
  files: CertificateFiles | CertificateFilesOptions;
  /** Extra check of the server's certificate after the host-name check (e.g. its SPIFFE ID). Default: none. */
  checkServerIdentity?: grpc.VerifyOptions['checkServerIdentity'];
}

function filesOf(files: CertificateFiles | CertificateFilesOptions): CertificateFiles {
  return files instanceof CertificateFiles ? files : new CertificateFiles(files);
}

function experimentalApi<K extends keyof typeof grpc.experimental>(name: K): (typeof grpc.experimental)[K] {
  const api = grpc.experimental[name];
  if (api === undefined)
    throw new Error(`weft/auth: TLS credentials need @grpc/grpc-js >= 1.14 (no experimental.${name})`);
  return api;
}

/**
 * Server credentials on grpc-js's certificate-provider API, fed by `CertificateFiles`: a rotated
 * certificate, key or CA applies to new connections without a restart.
 */
export function tlsServerCredentials(options: ServerTlsOptions): grpc.ServerCredentials {
  const files = filesOf(options.files);
  if (!files.hasIdentity) throw new Error('weft/auth: server TLS needs certFile and keyFile');
  const create = experimentalApi('createCertificateProviderServerCredentials');
  const require = options.requireClientCertificate ?? files.hasCa;
  if (require && !files.hasCa) throw new Error('weft/auth: requireClientCertificate needs caFile');
  // grpc-js 1.14 hands its first argument to the identity slot and its second to the CA slot
  // (the declared parameter names say the reverse); a CA slot of `null` asks for no client
  // certificate. `test/tls-rotation.test.ts` (TLS without a CA, and the FileWatcher comparison) pins this.
  return create(files, files.hasCa ? files : (null as unknown as CertificateFiles), require);
}

/** Channel credentials on grpc-js's certificate-provider API, fed by `CertificateFiles` (mTLS when they hold a certificate). */
export function tlsChannelCredentials(options: ChannelTlsOptions): grpc.ChannelCredentials {
  const files = filesOf(options.files);
  if (!files.hasCa)
    throw new Error('weft/auth: client TLS needs caFile (the CA the server certificate chains to)');
  const create = experimentalApi('createCertificateProviderChannelCredentials');
  const verify =
    options.checkServerIdentity === undefined
      ? undefined
      : { checkServerIdentity: options.checkServerIdentity };
  return create(files, files.hasIdentity ? files : null, verify);
}
