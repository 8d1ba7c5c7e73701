import type { Campaign, Namespace } from 'etcd3';
import { Backoff, describe } from './backoff';
import { type ElectedLeader, electionPrefix, type LeaderWatch, watchLeader } from './leader-watch';

export interface LeaderElectionOptions {
  /** The etcd client (an `Etcd3`, or a `client.namespace(...)`). Required. The caller closes it, after `resign()`. */
  client: Namespace;
  /** The election's name, one key segment (usually the service name). Required. */
  name: string;
  /** What this instance campaigns with: the `host:port` clients dial to reach it. Required. */
  address: string;
  /**
   * Lease TTL in seconds: how long a crashed leader keeps the leadership before a follower takes
   * over. Default 10 (etcd minimum 1).
   */
  ttl?: number;
  /** Campaign (`true`), or only follow who leads (`false`: a replica that must never lead). Default `true`. */
  campaign?: boolean;
  /** First delay before campaigning again after a failure, in ms (doubles, with jitter). Default 250. */
  retryInitialMs?: number;
  /** Cap on that delay, in ms. Default 5000. */
  retryMaxMs?: number;
  /**
   * How long `resign()` waits for etcd to revoke the lease, in ms; past it, the lease is left to
   * expire (`ttl`). Default 2000.
   */
  resignTimeoutMs?: number;
  /** Called whenever the leader or this instance's part changes. Default: nothing. */
  onChange?: (state: LeaderState) => void;
  /** Failures that are retried (campaign lost, etcd unreachable). Default: `console.error`, once per outage. */
  onError?: (error: Error) => void;
}

/** Who leads, as this instance sees it. */
export interface LeaderState {
  /** The leader's address (its campaign value), or `undefined` when nobody leads or etcd was never read. */
  readonly leader: string | undefined;
  /** Whether this instance is the leader. */
  readonly isLeader: boolean;
}

export interface LeaderElection {
  readonly name: string;
  /** This instance's address, as campaigned. */
  readonly address: string;
  /**
   * Whether this instance leads: its campaign was elected, and its key is the lowest one in etcd
   * as last read. Both must hold, so a leader whose lease expired behind its back (etcd told the
   * others first) stops leading as soon as it sees the new leader's key, before its own lease
   * reports the loss.
   */
  isLeader(): boolean;
  /** The leader's address, or `undefined` when nobody leads (or etcd was never read). */
  leader(): string | undefined;
  /** Resolves once this instance is the leader (never, if it resigns first). */
  elected(): Promise<void>;
  /** Gives the leadership up (a follower takes over at once) and stops following. Idempotent. */
  resign(): Promise<void>;
}

type Resolved = Required<LeaderElectionOptions>;

function resolveOptions(options: LeaderElectionOptions): Resolved {
  const o: Resolved = {
    ttl: 10,
    campaign: true,
    retryInitialMs: 250,
    retryMaxMs: 5000,
    resignTimeoutMs: 2000,
    onChange: () => undefined,
    onError: (error) => console.error(`weft/etcd: election ${options.name}: ${error.message}`),
    ...(Object.fromEntries(
      Object.entries(options).filter(([, v]) => v !== undefined),
    ) as LeaderElectionOptions),
  };
  if (!Number.isInteger(o.ttl) || o.ttl < 1)
    throw new Error(`weft/etcd: ttl must be an integer >= 1, got ${o.ttl}`);
  if (typeof o.address !== 'string' || o.address.length === 0)
    throw new Error('weft/etcd: address is required');
  electionPrefix(o.name); // checks the name
  return o;
}

/**
 * Campaigns in the etcd election `name` with this instance's address (etcd3's `Election`: a key
 * under a lease of `ttl` seconds; the oldest key leads) and follows who leads. A lost campaign
 * (lease expired while etcd was unreachable, key deleted) is started again with backoff; a leader
 * that dies stops keeping its lease alive, so a follower takes over within `ttl`.
 */
export function leaderElection(options: LeaderElectionOptions): LeaderElection {
  const o = resolveOptions(options);
  const backoff = new Backoff(o.retryInitialMs, o.retryMaxMs);
  let state: 'campaigning' | 'elected' | 'waiting' | 'resigned' = 'waiting';
  let campaign: Campaign | undefined;
  /** The lease id behind our candidate key, once granted. */
  let ownLease: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let reported: LeaderState = { leader: undefined, isLeader: false };
  let failing = false;
  const waiters: (() => void)[] = [];

  const isLeader = () => state === 'elected' && ownLease !== undefined && watch.current()?.lease === ownLease;

  const update = () => {
    const next: LeaderState = { leader: watch.current()?.value, isLeader: isLeader() };
    if (next.isLeader) for (const resolve of waiters.splice(0)) resolve();
    if (next.leader === reported.leader && next.isLeader === reported.isLeader) return;
    reported = next;
    o.onChange(next);
  };

  const fail = (error: Error) => {
    if (!failing) o.onError(error);
    failing = true;
  };

  const start = () => {
    timer = undefined;
    if (state === 'resigned') return;
    state = 'campaigning';
    const current = o.client.election(o.name, o.ttl).campaign(o.address);
    campaign = current;
    current.on('elected', () => {
      if (campaign !== current || state === 'resigned') return;
      state = 'elected';
      failing = false;
      backoff.reset();
      update();
    });
    current.on('error', (error: Error) => {
      // The lease is lost (or could not be granted): this campaign is over, start another.
      if (campaign !== current || state === 'resigned') return;
      campaign = undefined;
      ownLease = undefined;
      state = 'waiting';
      update();
      current.resign().catch(() => undefined);
      fail(new Error(`campaign failed, campaigning again: ${describe(error)}`));
      timer = setTimeout(start, backoff.next());
    });
    current.getCampaignKey().then(
      (key) => {
        if (campaign !== current) return;
        ownLease = key.slice(key.lastIndexOf('/') + 1);
        update();
      },
      () => undefined, // the same failure reaches 'error'
    );
  };

  const watch: LeaderWatch = watchLeader({
    client: o.client,
    name: o.name,
    retryInitialMs: o.retryInitialMs,
    retryMaxMs: o.retryMaxMs,
    onChange: (_leader: ElectedLeader | undefined) => update(),
    onError: (error, repeated) => {
      if (!repeated) o.onError(new Error(`following the leader: ${error.message}`));
    },
  });
  if (o.campaign) start();

  let resigning: Promise<void> | undefined;
  return {
    name: o.name,
    address: o.address,
    isLeader,
    leader: () => watch.current()?.value,
    elected: () =>
      isLeader()
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            waiters.push(resolve);
          }),
    resign() {
      resigning ??= (async () => {
        state = 'resigned';
        if (timer !== undefined) clearTimeout(timer);
        const current = campaign;
        campaign = undefined;
        ownLease = undefined;
        update();
        let timeout: NodeJS.Timeout | undefined;
        try {
          // Revokes the lease (its keepalive stops first): the key goes, and the next candidate is
          // elected now rather than after the TTL. An unreachable etcd lets it expire instead.
          await Promise.race([
            current?.resign(),
            new Promise<void>((_, reject) => {
              timeout = setTimeout(
                () => reject(new Error(`could not resign from ${o.name} (it expires within ${o.ttl}s)`)),
                o.resignTimeoutMs,
              );
            }),
          ]);
        } finally {
          clearTimeout(timeout);
          await watch.close();
        }
      })();
      return resigning;
    },
  };
}
