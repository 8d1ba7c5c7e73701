import { performance } from 'node:perf_hooks';
import { Metadata, type Server, ServerMetricRecorder, status } from '@grpc/grpc-js';
import {
  check,
  type PartialStatus,
  resolveOptions,
  type StagedServerInterceptor,
  type StageHooks,
  stagedInterceptor,
  type WeftServerCall,
} from '@weft/core';
import { encodeOrcaReport, type OrcaReport } from './orca-encoding';
import { addOrcaService, ORCA_SERVICE, OrcaStreams } from './orca-service';

/** The trailer grpc-js clients read per-call load reports from (gRFC A51). */
export const LOAD_REPORT_TRAILER = 'endpoint-load-metrics-bin';

/** What one update period measured; an `applicationUtilization` function is given this. */
export interface LoadSample {
  /** Process CPU time (user + system) over the period, divided by the period times `cpuCores`; 0..1. */
  readonly cpuUtilization: number;
  /** Node's event-loop utilization over the period (`performance.eventLoopUtilization`), 0..1. */
  readonly eventLoopUtilization: number;
  /** Calls in flight when the period ended. */
  readonly inFlight: number;
  /** Calls that ended during the period, per second. */
  readonly qps: number;
  /** Calls that ended during the period with one of `errorCodes`, per second. */
  readonly eps: number;
}

/** The load the server reports, out of band and in each call's trailer, until the next update. */
export interface LoadReport extends LoadSample {
  /** What `applicationUtilization` made of the sample (>= 0; above 1 means over capacity). */
  readonly applicationUtilization: number;
}

/**
 * What the server reports as application utilization, the value grpc-js's `weighted_round_robin`
 * divides QPS by (grpc-js reads only this field; gRFC A58 would fall back to CPU utilization):
 * - `'cpu'`: the CPU utilization;
 * - `'eventLoop'`: the event-loop utilization (a Node process is saturated when its one JS thread is);
 * - `'inFlight'`: calls in flight / `maxInFlight` (for servers bounded by concurrency, e.g. by
 *   `concurrencyLimit()`, rather than by CPU);
 * - a function of the period's sample, for anything else (a queue length, a pool's usage).
 */
export type ApplicationUtilization = 'cpu' | 'eventLoop' | 'inFlight' | ((sample: LoadSample) => number);

export interface LoadReportingOptions {
  /** How often the load is measured and the reports change, in ms. Default `1000`. */
  updatePeriodMs?: number;
  /**
   * The CPU budget, in cores, that CPU utilization is a share of. Default `1`: a Node server runs
   * its JavaScript on one thread, so one busy core is a saturated server, whatever the machine has.
   */
  cpuCores?: number;
  /** See `ApplicationUtilization`. Default `'cpu'`. */
  applicationUtilization?: ApplicationUtilization;
  /** The concurrency `'inFlight'` divides by; required with it, ignored otherwise. Default none. */
  maxInFlight?: number;
  /**
   * Status codes counted as errors (EPS). Default the codes that say the server failed or shed the
   * call: UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE, DATA_LOSS. A
   * caller's mistake (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED...) says nothing of the replica.
   */
  errorCodes?: readonly status[];
  /**
   * Whether each call's trailers carry the report (`endpoint-load-metrics-bin`), for clients that
   * balance on per-call reports (`weighted_round_robin` without `enable_oob_load_report`). Default
   * `false`: a grpc-js 1.14 client balancing that way parses the ORCA protos again for every call
   * that carries a report (its proto cache is never filled: 25-40 ms of CPU per call measured here),
   * so grpc-js clients should take reports out of band. Turn it on for Go, Java or C++ clients.
   */
  perCallReports?: boolean;
  /**
   * The shortest out-of-band report interval a client may ask for, in ms; shorter requests get
   * this one (grpc-js's ORCA service itself has no floor: a client asking for 0 s would get a report
   * every millisecond). Default `1000` (grpc-go's default floor is 30 s; weft's reports change
   * every `updatePeriodMs`, so one a second is the useful maximum).
   */
  minReportIntervalMs?: number;
  /** Called with each new report (e.g. to export it as gauges). Default none. */
  onReport?: ((report: LoadReport) => void) | undefined;
  /** Milliseconds from a monotonic clock. Default `performance.now`. Tests pass a fake one. */
  now?: () => number;
  /** The process's CPU time in µs. Default `process.cpuUsage`. Tests pass a fake one. */
  cpuUsage?: () => NodeJS.CpuUsage;
}

const SERVER_FAULTS: readonly status[] = Object.freeze([
  status.UNKNOWN,
  status.DEADLINE_EXCEEDED,
  status.RESOURCE_EXHAUSTED,
  status.INTERNAL,
  status.UNAVAILABLE,
  status.DATA_LOSS,
]);

interface Resolved {
  updatePeriodMs: number;
  cpuCores: number;
  applicationUtilization: ApplicationUtilization;
  maxInFlight: number | undefined;
  errorCodes: readonly status[];
  perCallReports: boolean;
  minReportIntervalMs: number;
  onReport: ((report: LoadReport) => void) | undefined;
  now: () => number;
  cpuUsage: () => NodeJS.CpuUsage;
}

export const LOAD_REPORTING_DEFAULTS: Readonly<Resolved> = Object.freeze({
  updatePeriodMs: 1000,
  cpuCores: 1,
  applicationUtilization: 'cpu',
  maxInFlight: undefined,
  errorCodes: SERVER_FAULTS,
  perCallReports: false,
  minReportIntervalMs: 1000,
  onReport: undefined,
  now: () => performance.now(),
  cpuUsage: () => process.cpuUsage(),
});

function resolve(options: LoadReportingOptions | undefined): Readonly<Resolved> {
  const resolved = resolveOptions('loadReporting', LOAD_REPORTING_DEFAULTS, options, {
    updatePeriodMs: check.positive,
    cpuCores: check.positive,
    maxInFlight: check.positive,
    minReportIntervalMs: check.positive,
    onReport: check.function,
    now: check.function,
    cpuUsage: check.function,
    applicationUtilization: (value) =>
      typeof value === 'function' || value === 'cpu' || value === 'eventLoop' || value === 'inFlight'
        ? undefined
        : 'must be cpu, eventLoop, inFlight or a function',
    errorCodes: (codes) =>
      Array.isArray(codes) && codes.every((c) => Number.isInteger(c) && c >= 0 && c <= 16)
        ? undefined
        : 'must be an array of status codes',
  });
  if (resolved.applicationUtilization === 'inFlight' && resolved.maxInFlight === undefined) {
    throw new RangeError('loadReporting: applicationUtilization "inFlight" needs maxInFlight');
  }
  return resolved;
}

/** Into [0, 1]; NaN (a clock or counter gone wrong) reads as 0. */
const clamp01 = (value: number): number => (value >= 0 ? Math.min(value, 1) : 0);

const EMPTY_REPORT: LoadReport = Object.freeze({
  cpuUtilization: 0,
  eventLoopUtilization: 0,
  inFlight: 0,
  qps: 0,
  eps: 0,
  applicationUtilization: 0,
});

/**
 * The state one `loadReporting()` shares between its calls, its timer and its ORCA service: what
 * is in flight, what ended this period, and the current report in every form it is sent in.
 */
class LoadReporter {
  inFlight = 0;
  private ended = 0;
  private failed = 0;
  private readonly isError: boolean[] = new Array(17).fill(false);
  private lastAt: number;
  private lastCpu: number;
  private lastLoop = performance.eventLoopUtilization();
  report: LoadReport = EMPTY_REPORT;
  /** The report as grpc-js's ORCA service writes it (snake_case proto fields). */
  orca: OrcaReport = { cpu_utilization: 0, application_utilization: 0, rps_fractional: 0, eps: 0 };
  /** The report as the per-call trailer carries it: encoded once per update, shared by every call. */
  encoded: Buffer = encodeOrcaReport(this.orca);
  readonly recorder = new ServerMetricRecorder();

  constructor(readonly options: Readonly<Resolved>) {
    for (const code of options.errorCodes) this.isError[code] = true;
    this.lastAt = options.now();
    const cpu = options.cpuUsage();
    this.lastCpu = cpu.user + cpu.system;
  }

  /** A call through the stage ended; `code` is -1 for a call cancelled before its status. */
  finish(code: number): void {
    this.inFlight--;
    this.ended++;
    if (code >= 0 && this.isError[code] === true) this.failed++;
  }

  update(): LoadReport {
    const options = this.options;
    const now = options.now();
    const cpu = options.cpuUsage();
    const cpuTotal = cpu.user + cpu.system;
    const loop = performance.eventLoopUtilization();
    const elapsedMs = now - this.lastAt;
    if (elapsedMs <= 0) return this.report; // a clock that did not move measured nothing
    const seconds = elapsedMs / 1000;
    const sample: LoadSample = {
      // µs of CPU over µs of wall time, per core of the budget.
      cpuUtilization: clamp01((cpuTotal - this.lastCpu) / (elapsedMs * 1000 * options.cpuCores)),
      eventLoopUtilization: clamp01(performance.eventLoopUtilization(loop, this.lastLoop).utilization),
      inFlight: this.inFlight,
      qps: this.ended / seconds,
      eps: this.failed / seconds,
    };
    this.lastAt = now;
    this.lastCpu = cpuTotal;
    this.lastLoop = loop;
    this.ended = 0;
    this.failed = 0;
    const application = this.applicationUtilization(sample);
    this.publish({ ...sample, applicationUtilization: application });
    return this.report;
  }

  private applicationUtilization(sample: LoadSample): number {
    const mode = this.options.applicationUtilization;
    let value: number;
    if (mode === 'cpu') value = sample.cpuUtilization;
    else if (mode === 'eventLoop') value = sample.eventLoopUtilization;
    else if (mode === 'inFlight') value = sample.inFlight / (this.options.maxInFlight as number);
    else value = mode(sample);
    // ORCA allows any value >= 0; NaN or a negative from a user function reports "unknown" (0).
    return value >= 0 && Number.isFinite(value) ? value : 0;
  }

  private publish(report: LoadReport): void {
    this.report = Object.freeze(report);
    this.orca = {
      cpu_utilization: report.cpuUtilization,
      application_utilization: report.applicationUtilization,
      rps_fractional: report.qps,
      eps: report.eps,
    };
    this.encoded = encodeOrcaReport(this.orca);
    const recorder = this.recorder;
    recorder.setCpuUtilizationMetric(report.cpuUtilization);
    recorder.setApplicationUtilizationMetric(report.applicationUtilization);
    recorder.setQpsMetric(report.qps);
    recorder.setEpsMetric(report.eps);
    this.options.onReport?.(this.report);
  }

  /** Puts the current report into the call's trailers and grpc-js's per-call recorder. */
  attach(partial: PartialStatus, call: WeftServerCall): PartialStatus {
    // grpc-js serializes its per-call recorder over this trailer when the server was built with
    // `grpc.server_call_metric_recording`: the values go there too, next to any the handler recorded.
    const recorder = call.getMetricsRecorder();
    const orca = this.orca;
    recorder.recordCPUUtilizationMetric(orca.cpu_utilization);
    recorder.recordApplicationUtilizationMetric(orca.application_utilization);
    recorder.recordQpsMetric(orca.rps_fractional);
    recorder.recordEpsMetric(orca.eps);
    const metadata = partial.metadata ?? new Metadata();
    metadata.set(LOAD_REPORT_TRAILER, this.encoded);
    return partial.metadata === metadata ? partial : { ...partial, metadata };
  }
}

/** One call's hooks: a class, so a call costs one small object and no closures. */
class LoadCall implements StageHooks {
  private open = true;

  constructor(
    private readonly reporter: LoadReporter,
    private readonly call: WeftServerCall,
  ) {
    reporter.inFlight++;
  }

  onSendStatus(partial: PartialStatus): PartialStatus {
    const reporter = this.reporter;
    if (this.open) {
      this.open = false;
      reporter.finish(partial.code);
    }
    return reporter.options.perCallReports ? reporter.attach(partial, this.call) : partial;
  }

  // Every stream close arrives here, normal ends after the status too: only an open call counts.
  onCancel(): void {
    if (!this.open) return;
    this.open = false;
    this.reporter.finish(-1);
  }
}

/** `loadReporting()`: a server interceptor that also serves the reports it measures. */
export interface LoadReporting extends StagedServerInterceptor {
  /**
   * Registers the ORCA service (`xds.service.orca.v3.OpenRcaService`) on `server`, for clients that
   * take reports out of band (`weighted_round_robin` with `enable_oob_load_report`). Call it
   * before `server.bindAsync`, like any `addService`. Its streams stay open as long as their
   * clients listen: `close()` ends them.
   */
  addToServer(server: Server): void;
  /** The report being sent now. */
  current(): LoadReport;
  /** Measures now and starts a new period (what the timer does every `updatePeriodMs`). */
  update(): LoadReport;
  /**
   * grpc-js's out-of-band recorder, for named utilization metrics of your own
   * (`putUtilizationMetric`); weft sets its CPU, application utilization, QPS and EPS.
   */
  readonly recorder: ServerMetricRecorder;
  /**
   * Stops the update timer and ends every open ORCA stream with UNAVAILABLE (grpc-js's ORCA client
   * subscribes again, with backoff, wherever it is connected next); a subscription arriving later
   * is answered UNAVAILABLE at once. A load balancer's subscription never ends on its own, so a
   * `server.tryShutdown()` waits for it: call `close()` right after `tryShutdown` (no new streams
   * arrive once the server is shutting down), and the shutdown completes. Idempotent.
   */
  close(): void;
}

/**
 * Measures this server's load and reports it the ORCA way (gRFC A51): in each call's trailers and,
 * with `addToServer`, through the out-of-band ORCA service. Put it outermost among the server
 * interceptors, so that calls other interceptors refuse count in QPS and EPS too.
 *
 * ```ts
 * const load = loadReporting();
 * const server = new grpc.Server({ interceptors: [load, ...serverInterceptors({ ... })] });
 * load.addToServer(server);
 * ```
 */
export function loadReporting(options?: LoadReportingOptions): LoadReporting {
  const reporter = new LoadReporter(resolve(options));
  const streams = new OrcaStreams();
  const stage = {
    start(call: WeftServerCall): StageHooks | undefined {
      // The ORCA stream itself stays open for as long as a client listens: it is not load.
      if (call.context.method.service === ORCA_SERVICE) return undefined;
      return new LoadCall(reporter, call);
    },
  };
  const timer = setInterval(() => reporter.update(), reporter.options.updatePeriodMs);
  timer.unref();
  return Object.assign(stagedInterceptor(stage), {
    addToServer: (server: Server) =>
      addOrcaService(
        server,
        reporter.recorder,
        () => reporter.orca,
        reporter.options.minReportIntervalMs,
        streams,
      ),
    current: () => reporter.report,
    update: () => reporter.update(),
    recorder: reporter.recorder,
    close: () => {
      clearInterval(timer);
      streams.close();
    },
  });
}
