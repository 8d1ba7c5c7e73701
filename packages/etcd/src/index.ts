export { ETCD_RESOLVER_DEFAULTS, type EtcdResolverOptions, registerEtcdResolver } from './etcd-resolver';
export {
  DEFAULT_PREFIX,
  type DecodedInstance,
  type DecodeResult,
  decodeInstance,
  decodeRegistration,
  encodeGoEndpoint,
  encodeRegistration,
  type InstanceFormat,
  instanceKey,
  type ParsedAddress,
  parseAddress,
  type Registration,
  servicePrefix,
} from './key-layout';
export {
  type LeaderElection,
  type LeaderElectionOptions,
  type LeaderState,
  leaderElection,
} from './leader-election';
export { LEADER_TRAILER, type LeaderOnlyOptions, leaderOnly } from './leader-only';
export {
  LEADER_RESOLVER_DEFAULTS,
  type LeaderResolverOptions,
  registerLeaderResolver,
} from './leader-resolver';
export { type ElectedLeader, electionPrefix } from './leader-watch';
export { type RegisterServiceOptions, registerService, type ServiceRegistration } from './register-service';
export {
  type ConfigSnapshot,
  type ConfigWatch,
  InvalidConfigError,
  type WatchConfigOptions,
  watchConfig,
} from './watch-config';
export {
  type InstanceWatch,
  type ServiceInstance,
  type UnreadableInstance,
  UnreadableInstanceError,
  type WatchInstancesOptions,
  watchInstances,
} from './watch-instances';
export {
  type EtcdLocks,
  type EtcdLocksOptions,
  etcdLocks,
  type HeldLock,
  type WithLockOptions,
} from './with-lock';
