// Three replicas reporting their load (ORCA), and clients balancing over them with least_request,
// consistent_hash and grpc-js's weighted_round_robin. On the repository's test service.
// Run it: npx tsx packages/balancing/test/example.ts
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { loadReporting, registerBalancingPolicies, serviceConfig } from '@weft/balancing';

const proto = grpc.loadPackageDefinition(protoLoader.loadSync(join(__dirname, '../../../proto/test.proto')));
const TestService = ((proto.weft as grpc.GrpcObject).test as grpc.GrpcObject)
  .TestService as grpc.ServiceClientConstructor;
type Echo = { message: string };
type EchoClient = grpc.Client & {
  Unary(
    request: Echo,
    metadata: grpc.Metadata,
    callback: (error: grpc.ServiceError | null, response: Echo) => void,
  ): grpc.ClientUnaryCall;
};

/** One replica: answers with its name, reports its load in the ORCA service. */
async function replica(name: string) {
  const load = loadReporting(); // CPU, QPS and EPS, measured every second
  const server = new grpc.Server({ interceptors: [load] });
  load.addToServer(server); // the ORCA service, for weighted_round_robin's out-of-band reports
  server.addService(TestService.service, {
    Unary: (_call: grpc.ServerUnaryCall<Echo, Echo>, callback: grpc.sendUnaryData<Echo>) =>
      callback(null, { message: name }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return { server, load, address: `127.0.0.1:${port}` };
}

function ask(client: EchoClient, userId: string): Promise<string> {
  const metadata = new grpc.Metadata();
  metadata.set('x-user-id', userId);
  return new Promise((resolve, reject) =>
    client.Unary({ message: '' }, metadata, (error, response) =>
      error ? reject(error) : resolve(response.message),
    ),
  );
}

export async function main(): Promise<string> {
  const replicas = await Promise.all(['a', 'b', 'c'].map(replica));
  // grpc-js's static resolver; weft's etcd:/// resolver gives the same list from etcd.
  const target = `ipv4:${replicas.map((r) => r.address).join(',')}`;
  const credentials = grpc.credentials.createInsecure();

  registerBalancingPolicies(); // once per process, before the channels that name the policies
  const leastRequest = new TestService(target, credentials, {
    'grpc.service_config': serviceConfig({ least_request: { choiceCount: 2 } }),
  }) as unknown as EchoClient;
  const byUser = new TestService(target, credentials, {
    'grpc.service_config': serviceConfig({ consistent_hash: { requestHashHeader: 'x-user-id' } }),
  }) as unknown as EchoClient;
  const weighted = new TestService(target, credentials, {
    'grpc.service_config': serviceConfig({
      weighted_round_robin: { enable_oob_load_report: true, oob_load_reporting_period: '10s' },
    }),
  }) as unknown as EchoClient;
  try {
    const spread = new Set<string>();
    for (let i = 0; i < 30; i++) spread.add(await ask(leastRequest, `u${i}`));
    const alice = new Set(await Promise.all(Array.from({ length: 5 }, () => ask(byUser, 'alice'))));
    await ask(weighted, 'bob');
    return `least_request reached ${spread.size} replicas; alice always went to ${alice.size} replica`;
  } finally {
    for (const client of [leastRequest, byUser, weighted]) client.close();
    for (const r of replicas) {
      r.load.close();
      r.server.forceShutdown();
    }
  }
}

if (require.main === module) main().then(console.log, console.error);
