/**
 * One replica of the balancing benchmark (`npm run bench:balance`), in its own process, so that
 * its load (and its load report) is its own. `argv`: name, milliseconds a call holds a worker,
 * etcd endpoint. Every call goes through a pool of POOL workers (a connection pool to what the
 * call waits on; the wait is a timer, so the machine's two shared cores are not what is measured)
 * and queues when all are busy: a replica with a longer hold has less capacity, and round robin
 * can give it more than it can do. A queued call whose caller gave up (deadline) is dropped
 * when its turn comes rather than worked on.
 *
 * Load reports: `loadReporting()` out of band (the ORCA service), with the pool's mean usage over
 * the report period as application utilization (see bench/README.md for why not CPU).
 */
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { loadReporting } from '@weft/balancing';
import { registerService } from '@weft/etcd';
import { Etcd3 } from 'etcd3';
import {
  POOL,
  REPORT_PERIOD_MS,
  type ReplicaReady,
  type ReplicaRequest,
  type ReplicaStats,
  SERVICE,
  UTILIZATION,
} from './balance-config';
import { loadEchoProto } from './proto';

type Call = grpc.ServerUnaryCall<{ message: string }, unknown>;
interface Waiting {
  call: Call;
  callback: grpc.sendUnaryData<{ message: string }>;
}

/**
 * Calls in the replica (queued or holding a worker), and their mean over a period: the area under
 * the count over time, divided by the time (Little's law: qps x mean time in the replica).
 */
class Occupancy {
  count = 0;
  private area = 0;
  private lastChange = performance.now();
  private periodStart = this.lastChange;

  add(delta: number): void {
    const now = performance.now();
    this.area += this.count * (now - this.lastChange);
    this.lastChange = now;
    this.count += delta;
  }

  /** The mean count since the previous call, and a new period. */
  takeMean(): number {
    this.add(0);
    const elapsed = this.lastChange - this.periodStart;
    const mean = elapsed > 0 ? this.area / elapsed : 0;
    this.area = 0;
    this.periodStart = this.lastChange;
    return mean;
  }
}

async function main() {
  const [name = 'replica', holdArg = '5', endpoint = ''] = process.argv.slice(2);
  const holdMs = Number(holdArg);
  const occupancy = new Occupancy();
  const received = new Map<string, number>();
  const queue: Waiting[] = [];
  let busy = 0;

  const pump = () => {
    while (busy < POOL && queue.length > 0) {
      const next = queue.shift() as Waiting;
      // Gone (cancelled, or its deadline passed: grpc-js answered DEADLINE_EXCEEDED already).
      if (next.call.cancelled || Number(next.call.getDeadline()) <= Date.now()) {
        occupancy.add(-1);
        continue;
      }
      busy++;
      setTimeout(() => {
        busy--;
        occupancy.add(-1);
        next.callback(null, { message: name });
        pump();
      }, holdMs);
    }
  };

  // The pool's mean usage: 1 is every worker busy all the period, above 1 calls also queued.
  // weighted_round_robin's weight qps / usage is then POOL / (mean time in the replica).
  const load = loadReporting({
    updatePeriodMs: REPORT_PERIOD_MS,
    minReportIntervalMs: REPORT_PERIOD_MS,
    applicationUtilization: UTILIZATION === 'pool' ? () => occupancy.takeMean() / POOL : UTILIZATION,
    maxInFlight: POOL,
  });
  const server = new grpc.Server({ interceptors: [load] });
  load.addToServer(server);
  server.addService(loadEchoProto().weft.test.TestService.service, {
    Unary(call: Call, callback: grpc.sendUnaryData<{ message: string }>) {
      const tag = call.request.message;
      received.set(tag, (received.get(tag) ?? 0) + 1);
      occupancy.add(1);
      queue.push({ call, callback });
      pump();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const etcd = new Etcd3({ hosts: endpoint });
  const registration = registerService({
    client: etcd,
    service: SERVICE,
    address: `127.0.0.1:${port}`,
    instanceId: name,
    onError: (error) => console.error(`balance replica ${name}: etcd: ${error.message}`),
  });
  await registration.ready;

  process.on('message', (m: ReplicaRequest) => {
    if (m.type === 'stats') {
      const report = load.current();
      const stats: ReplicaStats = {
        type: 'stats',
        id: m.id,
        received: Object.fromEntries(received),
        inReplica: occupancy.count,
        applicationUtilization: report.applicationUtilization,
        qps: report.qps,
      };
      if (m.reset) received.clear();
      process.send?.(stats);
    } else if (m.type === 'stop') {
      // Leave etcd first (clients stop picking this replica), then stop serving.
      registration
        .deregister()
        .catch((error: Error) => console.error(`balance replica ${name}: deregister: ${error.message}`))
        .finally(() => {
          server.forceShutdown();
          etcd.close();
          process.exit(0);
        });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', name, port, node: process.version } satisfies ReplicaReady);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
