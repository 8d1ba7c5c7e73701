export { type EtcdResolverOptions, registerEtcdResolver } from './etcd-resolver';
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
