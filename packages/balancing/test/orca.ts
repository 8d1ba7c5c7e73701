/**
 * The ORCA protos as a client sees them, loaded from the copies grpc-js ships: a decoder for the
 * `endpoint-load-metrics-bin` trailer and a client of the out-of-band service. Independent of
 * weft's hand-written encoder, so the tests check it against protobuf's own decoding.
 */
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const protoRoot = join(dirname(require.resolve('@grpc/grpc-js')), '..', '..', 'proto');

const definition = protoLoader.loadSync('xds/service/orca/v3/orca.proto', {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [join(protoRoot, 'xds'), join(protoRoot, 'protoc-gen-validate')],
});

/** OrcaLoadReport as protobuf decodes it (snake_case, defaults filled in). */
export interface DecodedReport {
  cpu_utilization: number;
  mem_utilization: number;
  rps_fractional: number;
  eps: number;
  application_utilization: number;
  named_metrics: Record<string, number>;
  utilization: Record<string, number>;
}

const reportType = definition['xds.data.orca.v3.OrcaLoadReport'] as unknown as {
  deserialize(buffer: Buffer): DecodedReport;
};

export function decodeReport(buffer: Buffer): DecodedReport {
  return reportType.deserialize(buffer);
}

/** The report in a call's trailers, or undefined when there is none. */
export function trailerReport(trailers: grpc.Metadata): DecodedReport | undefined {
  const [value] = trailers.get('endpoint-load-metrics-bin');
  return value === undefined ? undefined : decodeReport(value as Buffer);
}

type OrcaClient = grpc.Client & {
  StreamCoreMetrics(request: {
    report_interval?: { seconds: number; nanos: number };
  }): grpc.ClientReadableStream<DecodedReport>;
};

const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  xds: {
    service: {
      orca: { v3: { OpenRcaService: new (address: string, creds: grpc.ChannelCredentials) => OrcaClient } };
    };
  };
};

export function orcaClient(address: string): OrcaClient {
  return new loaded.xds.service.orca.v3.OpenRcaService(address, grpc.credentials.createInsecure());
}

/** Binds `server` to a free port on 127.0.0.1; resolves with its address. */
export function bindLocal(server: grpc.Server): Promise<string> {
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(`127.0.0.1:${port}`),
    ),
  );
}

/** What a test opened (servers, clients, reporters), closed after it: `afterEach(() => opened.closeAll())`. */
export class Opened {
  private readonly closers: (() => void)[] = [];

  /** A client or a `loadReporting()`: closed. */
  add<T extends { close(): void }>(resource: T): T {
    this.closers.push(() => resource.close());
    return resource;
  }

  /** A server: shut down by force (whatever a test left open). */
  server(server: grpc.Server): grpc.Server {
    this.closers.push(() => server.forceShutdown());
    return server;
  }

  closeAll(): void {
    for (const close of this.closers.splice(0).reverse()) close();
  }
}
