/**
 * The service level objectives, in one place: `npm run slo-rules` writes prometheus/rules/slo.yml
 * from this table, and prometheus/slo.test.ts fails when the file is stale.
 */
import { SERVER_ERROR_CODES } from '../../grafana/src/queries';

export interface ServiceObjectives {
  /** `grpc_service` label value: the fully-qualified service name. */
  readonly service: string;
  /** Share of calls that must not fail on the server side (codes in `SERVER_FAULT_CODES`). */
  readonly availability: number;
  /** Share of unary calls that must finish within `thresholdSeconds`, a bucket bound of the histogram. */
  readonly latency: { readonly objective: number; readonly thresholdSeconds: number };
}

/** Codes that spend the availability budget: the server's faults, as the dashboards count them. */
export const SERVER_FAULT_CODES = SERVER_ERROR_CODES;

/** The SLO period the error budget is counted over. */
export const SLO_PERIOD = '30d';

export const OBJECTIVES: readonly ServiceObjectives[] = [
  {
    service: 'weft.demo.v1.UserService',
    availability: 0.999,
    latency: { objective: 0.99, thresholdSeconds: 0.25 },
  },
];
