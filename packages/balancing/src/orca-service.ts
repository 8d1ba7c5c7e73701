import {
  type Server,
  type ServerMetricRecorder,
  type ServerWritableStream,
  type ServiceDefinition,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { OrcaReport } from './orca-encoding';

/** The ORCA out-of-band service's full name. */
export const ORCA_SERVICE = 'xds.service.orca.v3.OpenRcaService';

/** `OrcaLoadReportRequest` as grpc-js's proto loader hands it over (durations with string seconds). */
interface OrcaRequest {
  report_interval?: { seconds: string; nanos: number } | null;
}

type OrcaCall = ServerWritableStream<OrcaRequest, OrcaReport>;
type StreamCoreMetrics = (call: OrcaCall) => void;

/**
 * How a stream ends when its reporter closes. UNAVAILABLE because grpc-js's ORCA client
 * (orca.ts, `OobMetricsDataProducer`) subscribes again with backoff on any status but OK, CANCELLED
 * and UNIMPLEMENTED: after an OK it keeps the ended call as its subscription and never asks that
 * subchannel again, after UNIMPLEMENTED it takes the server for one without ORCA.
 */
const CLOSED = Object.freeze({
  code: status.UNAVAILABLE,
  details: 'load reporting closed (server shutting down)',
});

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
 * One subscriber's stream, as grpc-js's handler sees it (it reads `request`, calls `write` on its
 * report timer and listens for `cancelled`). Writes stop once the stream is ended: grpc-js's timer
 * runs until the stream closes, and a write after `end()` would destroy the stream before its
 * status went out.
 */
class OrcaStream {
  state: 'open' | 'ended' = 'open';
  readonly request: OrcaRequest;

  constructor(readonly call: OrcaCall) {
    this.request = call.request;
  }

  write(report: OrcaReport): boolean {
    return this.state === 'open' ? this.call.write(report) : false;
  }

  on(event: 'cancelled', listener: () => void): this {
    this.call.on(event, listener);
    return this;
  }

  /** Ends the stream with `CLOSED` (grpc-js sends an `error` event's status when pending writes are out). */
  end(): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.call.emit('error', CLOSED);
  }
}

/**
 * The ORCA streams one reporter serves: tracked while open, so `close()` can end them. A load
 * balancer keeps its subscription for as long as its channel lives, so without this a
 * `server.tryShutdown()` would wait for them until its caller gives up and forces it.
 */
export class OrcaStreams {
  private state: 'serving' | 'closed' = 'serving';
  private readonly open = new Set<OrcaStream>();

  /** Tracks a new subscription; one arriving after `close()` is ended at once. */
  add(call: OrcaCall): OrcaStream {
    const stream = new OrcaStream(call);
    if (this.state === 'closed') {
      stream.end();
      return stream;
    }
    this.open.add(stream);
    // grpc-js emits `cancelled` when the stream closes, whichever way it ends.
    call.once('cancelled', () => this.open.delete(stream));
    return stream;
  }

  /** Ends every open stream and every later one. */
  close(): void {
    this.state = 'closed';
    for (const stream of this.open) stream.end();
    this.open.clear();
  }
}

/**
 * Serves `recorder` as the ORCA service on `server`, as `recorder.addToServer(server)` does, with
 * three changes: a requested interval below `minIntervalMs` is raised to it, the first report goes
 * out at once (grpc-js's waits a whole interval, leaving a new client without weights), and every
 * stream is tracked in `streams`, which can end them all.
 */
export function addOrcaService(
  server: Server,
  recorder: ServerMetricRecorder,
  current: () => OrcaReport,
  minIntervalMs: number,
  streams: OrcaStreams,
): void {
  const { definition, streamCoreMetrics } = orcaService(recorder);
  const floor = { seconds: String(Math.floor(minIntervalMs / 1000)), nanos: (minIntervalMs % 1000) * 1e6 };
  const handler: StreamCoreMetrics = (call) => {
    const stream = streams.add(call);
    if (stream.state === 'ended') return;
    const interval = call.request.report_interval;
    // No interval means grpc-js's default of 30 s; one of 0 s would mean a report every millisecond.
    if (interval != null) {
      const ms = Number(interval.seconds) * 1000 + interval.nanos / 1e6;
      if (!(ms >= minIntervalMs)) call.request.report_interval = floor;
    }
    call.write(current());
    streamCoreMetrics(stream as unknown as OrcaCall);
  };
  server.addService(definition, { StreamCoreMetrics: handler });
}
