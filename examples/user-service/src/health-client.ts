import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';
import { demoChannelCredentials } from './tls';

interface HealthClient extends grpc.Client {
  Check(
    request: { service: string },
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: { status: string }) => void,
  ): void;
}

/** Asks the standard gRPC health service for a status: `SERVING`, `NOT_SERVING`... */
export function checkHealth(
  address: string,
  service = '',
  timeoutMs = 3000,
  credentials = demoChannelCredentials(),
): Promise<string> {
  const definition = protoLoader.loadSync(protoPath, { enums: String, defaults: true });
  const { grpc: g } = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { health: { v1: { Health: new (a: string, c: grpc.ChannelCredentials) => HealthClient } } };
  };
  const client = new g.health.v1.Health(address, credentials);
  return new Promise((resolve, reject) => {
    client.Check({ service }, { deadline: Date.now() + timeoutMs }, (error, response) => {
      client.close();
      if (error) reject(error);
      else resolve(response?.status ?? 'UNKNOWN');
    });
  });
}
