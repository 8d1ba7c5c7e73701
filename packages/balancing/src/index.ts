export {
  CONSISTENT_HASH,
  type ConsistentHashConfig,
  ConsistentHashLoadBalancer,
  ConsistentHashLoadBalancingConfig,
} from './consistent-hash';
export { HashRing, hashString, ringPoints } from './hash-ring';
export {
  LEAST_REQUEST,
  type LeastRequestConfig,
  LeastRequestLoadBalancer,
  LeastRequestLoadBalancingConfig,
} from './least-request';
export {
  type ApplicationUtilization,
  LOAD_REPORT_TRAILER,
  type LoadReport,
  type LoadReporting,
  type LoadReportingOptions,
  type LoadSample,
  loadReporting,
} from './load-reporting';
export { encodeOrcaReport, type OrcaReport } from './orca-encoding';
export { ORCA_SERVICE } from './orca-service';
export {
  balancingServiceConfig,
  type LoadBalancingConfig,
  registerBalancingPolicies,
  serviceConfig,
  type WeightedRoundRobinConfig,
} from './register';
