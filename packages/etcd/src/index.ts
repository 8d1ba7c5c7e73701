export { type EtcdResolverOptions, registerEtcdResolver } from './etcd-resolver';
export {
  DEFAULT_PREFIX,
  decodeRegistration,
  encodeRegistration,
  instanceKey,
  type Registration,
  servicePrefix,
} from './key-layout';
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
  type WatchInstancesOptions,
  watchInstances,
} from './watch-instances';
