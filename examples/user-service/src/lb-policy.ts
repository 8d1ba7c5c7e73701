/**
 * LB_POLICY: how the demo's client and load generator spread calls over the replicas they find
 * (through etcd:///user-service, or the one ADDRESS). Values and their settings: README.
 */
import type { ServiceConfig } from '@grpc/grpc-js';
import { balancingServiceConfig, type LoadBalancingConfig } from '@weft/balancing';

export const LB_POLICIES = [
  'round_robin',
  'least_request',
  'weighted_round_robin',
  'consistent_hash',
] as const;
export type LbPolicy = (typeof LB_POLICIES)[number];

/**
 * Request metadata naming the simulated user a call is made for (the load generator sets it);
 * `consistent_hash` sends every call of one user to the same replica.
 */
export const USER_KEY_HEADER = 'x-demo-user';

/** Each policy's config: the defaults of gRFC A48 / A58 and @weft/balancing, except where said. */
const CONFIGS: Readonly<Record<LbPolicy, LoadBalancingConfig>> = Object.freeze({
  round_robin: { round_robin: {} },
  // Power of two choices on this client's calls in flight.
  least_request: { least_request: { choiceCount: 2 } },
  // Out-of-band ORCA reports (a grpc-js client parses per-call reports at a high CPU cost, see
  // @weft/balancing), asked for every second (A58's default is 10 s; the replicas measure every
  // second), so a replica made slow loses its share within seconds. Blackout (10 s), weight
  // expiration (3 min) and the error penalty (1) stay A58's.
  weighted_round_robin: {
    weighted_round_robin: { enable_oob_load_report: true, oob_load_reporting_period: '1s' },
  },
  consistent_hash: { consistent_hash: { requestHashHeader: USER_KEY_HEADER } },
});

/**
 * LB_POLICY from the environment. Default `round_robin`: grpc-js's own policy and the baseline the
 * others are compared with (it needs neither load reports nor grpc-js's experimental LB API).
 */
export function lbPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): LbPolicy {
  const raw = env.LB_POLICY;
  if (raw === undefined || raw === '') return 'round_robin';
  if ((LB_POLICIES as readonly string[]).includes(raw)) return raw as LbPolicy;
  throw new Error(`LB_POLICY must be one of ${LB_POLICIES.join(', ')}; got "${raw}"`);
}

/** The service config selecting `policy` (weft's policies registered with grpc-js first). */
export function lbServiceConfig(policy: LbPolicy): ServiceConfig {
  return balancingServiceConfig(CONFIGS[policy]);
}
