import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { clientMetrics, serverMetrics } from '../src/index';

/**
 * go-grpc-prometheus's HELP strings, copied from its server_metrics.go and client_metrics.go
 * (github.com/grpc-ecosystem/go-grpc-prometheus, commit 0c1b191dbfe51efdabe3c14b9f6f3b96429e0722;
 * client_metrics.go at 031b1d47552df8074cbdbb44a90ddad25428a203 says the same).
 */
const GO_GRPC_PROMETHEUS_HELP: readonly (readonly [string, string])[] = [
  ['grpc_server_started_total', 'Total number of RPCs started on the server.'],
  [
    'grpc_server_handled_total',
    'Total number of RPCs completed on the server, regardless of success or failure.',
  ],
  ['grpc_server_msg_received_total', 'Total number of RPC stream messages received on the server.'],
  ['grpc_server_msg_sent_total', 'Total number of gRPC stream messages sent by the server.'],
  [
    'grpc_server_handling_seconds',
    'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
  ],
  ['grpc_client_started_total', 'Total number of RPCs started on the client.'],
  [
    'grpc_client_handled_total',
    'Total number of RPCs completed by the client, regardless of success or failure.',
  ],
  ['grpc_client_msg_received_total', 'Total number of RPC stream messages received by the client.'],
  ['grpc_client_msg_sent_total', 'Total number of gRPC stream messages sent by the client.'],
  [
    'grpc_client_handling_seconds',
    'Histogram of response latency (seconds) of the gRPC until it is finished by the application.',
  ],
];

describe('HELP strings', () => {
  const registry = new Registry();
  serverMetrics({ registry });
  clientMetrics({ registry });

  it.each(GO_GRPC_PROMETHEUS_HELP)('%s says what go-grpc-prometheus says', async (name, help) => {
    const text = await registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`# HELP ${name} `));
    expect(line).toBe(`# HELP ${name} ${help}`);
  });
});
