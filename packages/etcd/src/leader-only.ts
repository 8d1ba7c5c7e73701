import { Metadata, status } from '@grpc/grpc-js';
import { type StagedServerInterceptor, stagedInterceptor } from '@weft/core';
import type { LeaderElection } from './leader-election';

/** The trailer that names the leader's address on a refused call. */
export const LEADER_TRAILER = 'x-weft-leader';

export interface LeaderOnlyOptions {
  /** Trailing-metadata key naming the leader's address on a refusal. Default `x-weft-leader`. */
  trailer?: string;
}

/**
 * A server interceptor that admits calls only while this instance leads `election`, and answers
 * them elsewhere with UNAVAILABLE and the leader's address in the `x-weft-leader` trailer (absent
 * while nobody leads). Wrap it in `selector()` to choose the methods:
 * `selector(leaderOnly(election), { fullMethod: ['users.Users/Rebuild'] })`.
 *
 * UNAVAILABLE because a caller may try again (weft's `retry()` does): on the leader, or after a
 * failover. Clients that dial through `etcd-leader:///` reach the leader in the first place.
 * Leadership is checked when the call arrives; a call admitted just before the leadership moves
 * runs to its end.
 */
export function leaderOnly(
  election: Pick<LeaderElection, 'name' | 'isLeader' | 'leader'>,
  options: LeaderOnlyOptions = {},
): StagedServerInterceptor {
  const trailer = options.trailer ?? LEADER_TRAILER;
  return stagedInterceptor({
    start(call, stage) {
      // On the leader the stage stays out of the call: no hooks, nothing allocated.
      if (election.isLeader()) return undefined;
      return {
        onReceiveMetadata() {
          const leader = election.leader();
          const metadata = new Metadata();
          let details: string;
          if (leader === undefined) {
            details = `no leader elected for ${election.name}`;
          } else {
            details = `not the leader of ${election.name}; the leader is ${leader}`;
            metadata.set(trailer, leader);
          }
          call.sendStatusFrom(stage, { code: status.UNAVAILABLE, details, metadata });
        },
      };
    },
  });
}
