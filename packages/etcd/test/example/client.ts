// Run: ETCD_ENDPOINTS=http://127.0.0.1:2379 npx tsx client.ts
import * as grpc from '@grpc/grpc-js';
import { registerEtcdResolver } from '@weft/etcd';
import { Etcd3 } from 'etcd3';
import { WhoAmIClient, whoAmI } from './whoami';

const etcd = new Etcd3({ hosts: (process.env.ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379').split(',') });
registerEtcdResolver({ client: etcd }); // once per process: etcd:///<service> now resolves

const client = new WhoAmIClient('etcd:///whoami', grpc.credentials.createInsecure(), {
  'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
});

async function main() {
  for (let i = 0; i < Number(process.env.CALLS ?? 6); i++) console.log((await whoAmI(client)).instance);
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => {
    client.close();
    etcd.close();
  });
