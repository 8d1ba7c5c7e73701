import type {
  Server,
  ServerMetricRecorder,
  ServerWritableStream,
  ServiceDefinition,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { OrcaReport } from './orca-encoding';

/** The ORCA out-of-band service's full name. */
export const ORCA_SERVICE = 'xds.service.orca.v3.OpenRcaService';

/** `OrcaLoadReportRequest` as grpc-js's proto loader hands it over (durations with string seconds). */
interface OrcaRequest {
  report_interval?: { seconds: string; nanos: number } | null;
}

type StreamCoreMetrics = (call: ServerWritableStream<OrcaRequest, OrcaReport>) => void;

/**
 * grpc-js's ORCA service definition and handler for `recorder`. `ServerMetricRecorder` only offers
 * `addToServer(server)`; handing it a stand-in server is how to get them without loading the ORCA
 * protos a second time (they ship inside grpc-js).
 */
function orcaService(recorder: ServerMetricRecorder): {
  definition: ServiceDefinition;
  streamCoreMetrics: StreamCoreMetrics;
} {
  let definition: ServiceDefinition | undefined;
  let implementation: UntypedServiceImplementation | undefined;
  const standIn = {
    addService(d: ServiceDefinition, i: UntypedServiceImplementation) {
      definition = d;
      implementation = i;
    },
  };
  recorder.addToServer(standIn as unknown as Server);
  const streamCoreMetrics = implementation?.StreamCoreMetrics;
  if (definition === undefined || typeof streamCoreMetrics !== 'function') {
    throw new Error('loadReporting: this grpc-js has no ORCA service (needs @grpc/grpc-js 1.14)');
  }
  return { definition, streamCoreMetrics: streamCoreMetrics as StreamCoreMetrics };
}

/**
 * Serves `recorder` as the ORCA service on `server`, as `recorder.addToServer(server)` does, with
 * two changes: a requested interval below `minIntervalMs` is raised to it, and the first report
 * goes out at once (grpc-js's waits a whole interval, leaving a new client without weights).
 */
export function addOrcaService(
  server: Server,
  recorder: ServerMetricRecorder,
  current: () => OrcaReport,
  minIntervalMs: number,
): void {
  const { definition, streamCoreMetrics } = orcaService(recorder);
  const floor = { seconds: String(Math.floor(minIntervalMs / 1000)), nanos: (minIntervalMs % 1000) * 1e6 };
  const handler: StreamCoreMetrics = (call) => {
    const interval = call.request.report_interval;
    // No interval means grpc-js's default of 30 s; one of 0 s would mean a report every millisecond.
    if (interval != null) {
      const ms = Number(interval.seconds) * 1000 + interval.nanos / 1e6;
      if (!(ms >= minIntervalMs)) call.request.report_interval = floor;
    }
    call.write(current());
    streamCoreMetrics(call);
  };
  server.addService(definition, { StreamCoreMetrics: handler });
}
