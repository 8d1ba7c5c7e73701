// A server and a client with every @weft/resilience interceptor, on the repository's test service.
// Run it: npx tsx packages/resilience/test/example.ts
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { clientInterceptors, serverInterceptors } from '@weft/core';
import {
  circuitBreaker,
  clientDeadline,
  concurrencyLimit,
  rateLimit,
  retry,
  serverDeadline,
} from '@weft/resilience';

const proto = grpc.loadPackageDefinition(protoLoader.loadSync(join(__dirname, '../../../proto/test.proto')));
const TestService = ((proto.weft as grpc.GrpcObject).test as grpc.GrpcObject)
  .TestService as grpc.ServiceClientConstructor;
type Echo = { message: string };
type EchoClient = grpc.Client & {
  Unary(
    request: Echo,
    callback: (error: grpc.ServiceError | null, response: Echo) => void,
  ): grpc.ClientUnaryCall;
};

export async function main(): Promise<string> {
  const server = new grpc.Server({
    interceptors: serverInterceptors({
      // Calls without a deadline get 5 s; nobody gets more than 30 s.
      deadline: serverDeadline({ default: 5_000, max: 30_000 }),
      // 100 calls/s per client host, bursts of 20; excess gets RESOURCE_EXHAUSTED + retry hints.
      rateLimit: rateLimit({ rules: [{ name: 'per-peer', rate: 100, burst: 20, key: 'peer' }] }),
      // At most 64 calls of one method in flight.
      concurrencyLimit: concurrencyLimit({ max: 64 }),
    }),
  });
  server.addService(TestService.service, {
    Unary: (
      call: grpc.ServerUnaryCall<{ message: string }, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => callback(null, { message: `echo: ${call.request.message}` }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );

  const client = new TestService(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    interceptors: clientInterceptors({
      // 2 s for calls made without a deadline; inside a handler, the incoming deadline is inherited.
      deadline: clientDeadline({ default: 2_000, margin: 10 }),
      // Up to 3 attempts on UNAVAILABLE, with jittered backoff, pushback and throttling.
      retry: retry({ maxAttempts: 3 }),
      // Fail fast while the server is failing.
      circuitBreaker: circuitBreaker({ failureRatio: 0.5, minimumCalls: 20, cooldownMs: 5_000 }),
    }),
  }) as unknown as EchoClient;
  try {
    return await new Promise<string>((resolve, reject) =>
      client.Unary({ message: 'hello' }, (error, response) =>
        error ? reject(error) : resolve(response.message),
      ),
    );
  } finally {
    client.close();
    server.forceShutdown();
  }
}

if (require.main === module) main().then(console.log, console.error);
