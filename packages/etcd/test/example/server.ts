// Run: ETCD_ENDPOINTS=http://127.0.0.1:2379 npx tsx server.ts
import * as grpc from '@grpc/grpc-js';
import { loadReporting } from '@weft/balancing';
import { registerService } from '@weft/etcd';
import { Etcd3 } from 'etcd3';
import { WhoAmIService } from './whoami';

const etcd = new Etcd3({ hosts: (process.env.ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379').split(',') });
// Optional: its load (CPU, QPS, EPS) for clients balancing with weighted_round_robin.
const load = loadReporting();
const server = new grpc.Server({ interceptors: [load] });
load.addToServer(server); // the ORCA service those clients subscribe to, before bindAsync
const instance = `pid-${process.pid}`;
server.addService(WhoAmIService, {
  whoAmI: (_call: unknown, callback: grpc.sendUnaryData<{ instance: string }>) =>
    callback(null, { instance }),
});

async function main() {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  const registration = registerService({
    client: etcd,
    service: 'whoami',
    address: `127.0.0.1:${port}`,
    ttl: 5,
  });

  // On SIGTERM: leave etcd first (clients stop picking this instance), then drain and stop.
  registration.deregisterOn(['SIGTERM', 'SIGINT'], () => {
    server.tryShutdown(() => etcd.close());
  });

  await registration.ready;
  console.log(`${instance} serving on 127.0.0.1:${port}, registered as ${registration.key}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
