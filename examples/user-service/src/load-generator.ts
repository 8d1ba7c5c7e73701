import * as grpc from '@grpc/grpc-js';
import { type JwtConfig, loadConfig } from './config';
import { call } from './demo-client';
import type { UserServiceClient } from './generated/weft/demo/v1/UserService';
import { FAULT_HEADER } from './interceptors';
import { mintToken } from './tokens';

export interface LoadOptions {
  /** Calls in flight at once. */
  concurrency: number;
  /** How long to run, in seconds. */
  durationSeconds: number;
  /** Share of calls (0..1) that are meant to fail: unknown ids, invalid input, duplicates. */
  errorRate: number;
  /**
   * Share of calls (0..1) refused by auth: half with a token signed by the wrong key
   * (UNAUTHENTICATED), half writes with a read-only token (PERMISSION_DENIED). Default 0.
   */
  authFailureRate?: number;
  /** The demo's JWT settings, to mint the read-only token. Default: from the environment. */
  jwt?: JwtConfig;
  /** Share of calls (0..1) the demo is asked to fail with UNAVAILABLE (`x-demo-fault`): retried. Default 0. */
  faultRate?: number;
  /** Metadata for each call (credentials, tenant...). */
  metadata?: () => grpc.Metadata;
  /** Hard cap on calls, so a run is bounded whatever the duration. Default 1,000,000. */
  maxCalls?: number;
}

export interface LoadReport {
  calls: number;
  seconds: number;
  /** Calls per status code name. */
  codes: Record<string, number>;
}

const WRITE_SHARE = 0.2;

/** Drives a mix of reads, writes and deliberate failures at the demo until the time or the cap runs out. */
export async function runLoad(client: UserServiceClient, options: LoadOptions): Promise<LoadReport> {
  const codes: Record<string, number> = {};
  const metadata = options.metadata ?? (() => new grpc.Metadata());
  const maxCalls = options.maxCalls ?? 1_000_000;
  const started = Date.now();
  const until = started + options.durationSeconds * 1000;
  let calls = 0;
  let seq = 0;
  const record = (code: grpc.status) => {
    const name = grpc.status[code] ?? String(code);
    codes[name] = (codes[name] ?? 0) + 1;
  };
  // Same issuer and audience as the demo, wrong key: refused as `bad_signature`.
  const forged = mintToken(
    { secret: 'not-the-demo-secret', issuer: 'weft-demo', audience: 'user-service', insecureDevSecret: true },
    { subject: 'mallory', scope: 'users:read', ttlSeconds: 3600 },
  );
  const readOnly = mintToken(options.jwt ?? loadConfig().jwt, {
    subject: 'load-reader',
    scope: 'users:read',
    ttlSeconds: 3600,
  });
  const authFailureRate = options.authFailureRate ?? 0;
  const faultRate = options.faultRate ?? 0;
  const one = async (): Promise<void> => {
    const roll = Math.random();
    const n = seq++;
    try {
      if (Math.random() < authFailureRate) {
        const md = metadata();
        if (n % 2 === 0) {
          md.set('authorization', `Bearer ${forged}`);
          await call(client, 'GetUser', { id: 'u-1' }, md);
        } else {
          md.set('authorization', `Bearer ${readOnly}`);
          await call(client, 'DeleteUser', { id: 'u-1' }, md);
        }
      } else if (Math.random() < faultRate) {
        const md = metadata();
        md.set(FAULT_HEADER, 'unavailable');
        await call(client, 'GetUser', { id: 'u-1' }, md);
      } else if (roll < options.errorRate / 2)
        await call(client, 'GetUser', { id: `missing-${n}` }, metadata());
      else if (roll < options.errorRate)
        await call(client, 'CreateUser', { name: '', email: 'bad' }, metadata());
      else if (roll < options.errorRate + WRITE_SHARE) {
        const user = await call<object, { id: string }>(
          client,
          'CreateUser',
          { name: `Load ${n}`, email: `load-${process.pid}-${n}-${started}@example.com` },
          metadata(),
        );
        await call(client, 'DeleteUser', { id: user.id }, metadata());
      } else await listSome(client, metadata());
      record(grpc.status.OK);
    } catch (error) {
      record((error as grpc.ServiceError).code ?? grpc.status.UNKNOWN);
    }
  };
  const worker = async () => {
    while (Date.now() < until && calls < maxCalls) {
      calls++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  return { calls, seconds: (Date.now() - started) / 1000, codes };
}

function listSome(client: UserServiceClient, metadata: grpc.Metadata): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = client.ListUsers({ limit: 5 }, metadata);
    stream.on('data', () => {});
    stream.on('error', reject);
    stream.on('end', resolve);
  });
}
