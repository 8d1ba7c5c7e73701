/**
 * The demo's TLS: server credentials from TLS_CERT / TLS_KEY / TLS_CA, client credentials from
 * TLS_CA / TLS_CLIENT_CERT / TLS_CLIENT_KEY. Both read their files again every TLS_REFRESH_SECONDS
 * (default 60), so certificates rotated on disk apply to new connections without a restart.
 */
import * as grpc from '@grpc/grpc-js';
import { CertificateFiles, tlsChannelCredentials, tlsServerCredentials } from '@weft/auth';
import { intFromEnv, type TlsConfig } from './config';

export interface ServerTls {
  readonly credentials: grpc.ServerCredentials;
  /** The files behind them: `peerIdentity({ trust })` checks client certificates against their CA. */
  readonly files: CertificateFiles;
}

export function serverTls(tls: TlsConfig, onError: (error: Error) => void): ServerTls {
  const files = new CertificateFiles({
    certFile: tls.certFile,
    keyFile: tls.keyFile,
    caFile: tls.caFile,
    refreshIntervalMs: tls.refreshSeconds * 1000,
    onError,
  });
  return {
    credentials: tlsServerCredentials({ files, requireClientCertificate: tls.requireClientCert }),
    files,
  };
}

/**
 * Credentials for the demo's client, load generator and health check: TLS when TLS_CA is set
 * (mTLS with TLS_CLIENT_CERT and TLS_CLIENT_KEY), plaintext otherwise. One object per process:
 * grpc-js shares connections between channels whose credentials are the same object.
 */
let cached: { key: string; credentials: grpc.ChannelCredentials } | undefined;
export function demoChannelCredentials(env: NodeJS.ProcessEnv = process.env): grpc.ChannelCredentials {
  const caFile = env.TLS_CA || undefined;
  const certFile = env.TLS_CLIENT_CERT || undefined;
  const keyFile = env.TLS_CLIENT_KEY || undefined;
  if (caFile === undefined) {
    if (certFile !== undefined || keyFile !== undefined) {
      throw new Error('TLS_CLIENT_CERT and TLS_CLIENT_KEY need TLS_CA (the CA of the server certificate)');
    }
    return grpc.credentials.createInsecure();
  }
  const key = `${caFile}\u0000${certFile}\u0000${keyFile}`;
  if (cached?.key !== key) {
    const files = new CertificateFiles({
      caFile,
      certFile,
      keyFile,
      refreshIntervalMs: intFromEnv(env, 'TLS_REFRESH_SECONDS', 60) * 1000,
    });
    cached = { key, credentials: tlsChannelCredentials({ files }) };
  }
  return cached.credentials;
}
