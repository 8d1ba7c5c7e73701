// Run: ETCD_ENDPOINTS=http://127.0.0.1:2379 npx tsx balanced-client.ts
import * as grpc from '@grpc/grpc-js';
import { balancingServiceConfig } from '@weft/balancing';
import { registerEtcdResolver } from '@weft/etcd';
import { Etcd3 } from 'etcd3';
import { WhoAmIClient, whoAmI } from './whoami';

// The three lines: an etcd client; the resolver, with the policy every etcd:/// channel gets;
// a client with no service config of its own.
const etcd = new Etcd3({ hosts: (process.env.ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379').split(',') });
registerEtcdResolver({
  client: etcd,
  serviceConfig: balancingServiceConfig({ weighted_round_robin: { enable_oob_load_report: true } }),
});
const client = new WhoAmIClient('etcd:///whoami', grpc.credentials.createInsecure());

async function main() {
  try {
    for (let i = 0; i < Number(process.env.CALLS ?? 6); i++) console.log((await whoAmI(client)).instance);
  } finally {
    client.close();
    etcd.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
