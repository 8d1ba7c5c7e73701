import * as grpc from '@grpc/grpc-js';
import { localReason } from '@weft/core';
import { type JwtConfig, loadConfig } from './config';
import { call } from './demo-client';
import type { UserServiceClient } from './generated/weft/demo/v1/UserService';
import { FAULT_HEADER } from './interceptors';
import { USER_KEY_HEADER } from './lb-policy';
import { mintToken } from './tokens';

export interface LoadOptions {
  /**
   * Without `rps`: calls in flight at once, each worker calling back to back (a closed loop). With
   * `rps`: the most calls in flight; an arrival that finds that many is skipped, not queued.
   */
  concurrency: number;
  /**
   * Calls started per second, paced open-loop: arrivals follow the clock whatever the answers, so
   * calls failed fast on the client (circuit open, throttled) do not turn into a spin of thousands
   * of instant "calls", and a slow server sees the same offered load as a fast one. Default: none
   * (the closed loop above).
   */
  rps?: number;
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
  /**
   * Metadata for each call (credentials, tenant...). The generator adds `x-demo-user`: the
   * simulated user (one of `users`) the call is made for, the key LB_POLICY=consistent_hash hashes.
   */
  metadata?: () => grpc.Metadata;
  /** How many simulated users the calls are spread over (`x-demo-user`). Default 100. */
  users?: number;
  /** Hard cap on calls, so a run is bounded whatever the duration. Default 1,000,000. */
  maxCalls?: number;
}

export interface LoadReport {
  /** Calls made: answered (`codes`) plus refused on the client (`local`). */
  calls: number;
  seconds: number;
  /**
   * Calls per status code name, for calls that were sent: the server's answers (and statuses the
   * transport made for them, such as a deadline that passed in flight or a lost connection).
   */
  codes: Record<string, number>;
  /**
   * Calls refused on the client before they were sent, by the layer that refused them (the
   * `x-weft-local` trailer: `circuit-breaker`, `throttle`, `deadline`, `cancelled`). Their status
   * (UNAVAILABLE, DEADLINE_EXCEEDED) is not counted in `codes`: the server never saw them.
   */
  local: Record<string, number>;
  /** With `rps`: arrivals not started because `concurrency` calls were in flight. */
  skipped: number;
  /** The pacing asked for (`rps`), or `undefined` for the closed loop. */
  rps: number | undefined;
}

const WRITE_SHARE = 0.2;

/** Drives a mix of reads, writes and deliberate failures at the demo until the time or the cap runs out. */
export async function runLoad(client: UserServiceClient, options: LoadOptions): Promise<LoadReport> {
  const codes: Record<string, number> = {};
  const local: Record<string, number> = {};
  const baseMetadata = options.metadata ?? (() => new grpc.Metadata());
  const users = options.users ?? 100;
  const maxCalls = options.maxCalls ?? 1_000_000;
  const started = Date.now();
  const until = started + options.durationSeconds * 1000;
  let calls = 0;
  let seq = 0;
  const record = (code: grpc.status, trailers?: grpc.Metadata) => {
    const reason = localReason(trailers);
    if (reason !== undefined) {
      local[reason] = (local[reason] ?? 0) + 1;
      return;
    }
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
    // Every call of one step (a create and its delete) for the same user, so consistent_hash sends
    // them to the same replica (each replica has a store of its own).
    const user = `user-${Math.floor(Math.random() * users)}`;
    const metadata = () => {
      const md = baseMetadata();
      md.set(USER_KEY_HEADER, user);
      return md;
    };
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
      const failed = error as grpc.ServiceError;
      record(failed.code ?? grpc.status.UNKNOWN, failed.metadata);
    }
  };
  const concurrency = Math.max(1, options.concurrency);
  let skipped = 0;
  if (options.rps !== undefined && options.rps > 0) {
    const paced = await pace(one, options.rps, concurrency, until, maxCalls);
    calls = paced.calls;
    skipped = paced.skipped;
  } else {
    const worker = async () => {
      while (Date.now() < until && calls < maxCalls) {
        calls++;
        await one();
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }
  return {
    calls,
    seconds: (Date.now() - started) / 1000,
    codes,
    local,
    skipped,
    rps: options.rps || undefined,
  };
}

/**
 * Starts `one()` at `rps` arrivals per second until `until` (epoch ms) or `maxCalls`, open-loop:
 * the schedule does not wait for answers. Arrivals that fell due while the process was busy start
 * at once (the schedule keeps its rate rather than drifting), unless `maxInFlight` calls are in
 * flight: those are skipped. Resolves once every call started has ended.
 */
async function pace(
  one: () => Promise<void>,
  rps: number,
  maxInFlight: number,
  until: number,
  maxCalls: number,
): Promise<{ calls: number; skipped: number }> {
  const interval = 1000 / rps;
  let next = Date.now();
  let calls = 0;
  let skipped = 0;
  let inFlight = 0;
  let drained: () => void = () => {};
  const ended = () => {
    inFlight--;
    if (inFlight === 0) drained();
  };
  while (calls < maxCalls) {
    const now = Date.now();
    if (now >= until) break;
    while (next <= now && next < until && calls < maxCalls) {
      next += interval;
      if (inFlight >= maxInFlight) {
        skipped++;
        continue;
      }
      calls++;
      inFlight++;
      void one().finally(ended);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(next, until) - Date.now())));
  }
  if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
  return { calls, skipped };
}

/** The report as the load generator prints it: answered calls apart from client-side refusals. */
export function formatReport(report: LoadReport): string {
  const rate = report.calls / report.seconds;
  const pacing = report.rps === undefined ? 'unpaced' : `paced at ${report.rps}/s`;
  const answered = Object.values(report.codes).reduce((a, b) => a + b, 0);
  const refused = Object.values(report.local).reduce((a, b) => a + b, 0);
  const lines = [
    `${report.calls} calls in ${report.seconds.toFixed(1)}s (${rate.toFixed(0)}/s, ${pacing})`,
    `  sent, by status (server or transport): ${answered} ${JSON.stringify(report.codes)}`,
    `  refused on the client, not sent (x-weft-local): ${refused} ${JSON.stringify(report.local)}`,
  ];
  if (report.rps !== undefined) lines.push(`  skipped (concurrency cap reached): ${report.skipped}`);
  return `${lines.join('\n')}\n`;
}

function listSome(client: UserServiceClient, metadata: grpc.Metadata): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = client.ListUsers({ limit: 5 }, metadata);
    stream.on('data', () => {});
    stream.on('error', reject);
    stream.on('end', resolve);
  });
}
