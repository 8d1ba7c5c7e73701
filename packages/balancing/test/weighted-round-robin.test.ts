/**
 * grpc-js's own `weighted_round_robin` (gRFC A58) balancing on the reports `loadReporting()` sends:
 * out of band through the ORCA service. One replica reports each
 * call costing it nine times what it costs the others; it must get a small share of the calls where round robin
 * would give it a third.
 */
import type * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadReporting } from '../src/index';
import {
  balancedClient,
  pacedShares,
  type Replica,
  startReportingReplicas,
  staticTarget,
  stopReplicas,
} from './replicas';

describe('weighted_round_robin on loadReporting() reports', { timeout: 60_000 }, () => {
  let replicas: Replica[];
  let reporters: LoadReporting[] = [];
  const clients: grpc.Client[] = [];

  beforeAll(async () => {
    // As if a call cost r0 9 ms of its capacity and the others 1 ms: weight = qps / utilization
    // is 1/0.009 for r0 against 1/0.001 for the others.
    ({ replicas, reporters } = await startReportingReplicas([9, 1, 1]));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const r of reporters) r.close();
    await stopReplicas(replicas);
  });

  // Shortened from A58's defaults (blackout 10 s, weights every 1 s, reports every 10 s) so the
  // weights settle within a test.
  const knobs = { blackout_period: '0s', weight_update_period: '0.1s', oob_load_reporting_period: '0.1s' };

  // Per-call reports work too, but not with a grpc-js client: grpc-js 1.14 parses the ORCA protos
  // again for every call carrying a report (25-40 ms of CPU each here), so this test takes them out of band.
  it('moves calls away from the replica reporting high utilization', async () => {
    const config = { ...knobs, enable_oob_load_report: true };
    const client = balancedClient(staticTarget(replicas), { weighted_round_robin: config });
    clients.push(client);
    // Warm-up: calls give every replica a QPS to report and the client time to weigh them.
    await pacedShares(client, 300, 3);
    const { share } = await pacedShares(client, 300, 3);
    // r0's weight is 1/9 of the others': a share of 1/19.
    expect(share('r0')).toBeLessThan(0.15);
    expect(share('r1')).toBeGreaterThan(0.3);
    expect(share('r2')).toBeGreaterThan(0.3);
  });
});
