/**
 * The server variants the benchmark compares. Each builds a server for the echo service; modules
 * are required inside the builders because the official OpenTelemetry instrumentation must be
 * registered before grpc-js is loaded.
 */
import type * as grpcTypes from '@grpc/grpc-js';
import { loadEchoProto, STREAM_MESSAGES } from './proto';

export interface BenchServer {
  listen(address: string): Promise<number>;
  close(): Promise<void>;
  /** Variant-specific counters for the soak (spans started and ended, ...). */
  stats?(): Record<string, number>;
  /** The bearer token the load must send (default `HS256_TOKEN`). */
  token?: string;
}

type Grpc = typeof grpcTypes;
const loadGrpc = (): Grpc => require('@grpc/grpc-js');

/** A grpc-js server with the given interceptors around a minimal echo implementation. */
function grpcJsServer(interceptors: grpcTypes.ServerInterceptor[] = []): BenchServer {
  const grpc = loadGrpc();
  const server = new grpc.Server({ interceptors });
  const proto = loadEchoProto();
  server.addService(proto.weft.test.TestService.service, {
    Unary(
      call: grpcTypes.ServerUnaryCall<{ message: string }, unknown>,
      callback: grpcTypes.sendUnaryData<unknown>,
    ) {
      callback(null, { message: call.request.message });
    },
    ServerStream(call: grpcTypes.ServerWritableStream<{ message: string }, unknown>) {
      for (let i = 0; i < STREAM_MESSAGES; i++) call.write({ message: call.request.message, index: i });
      call.end();
    },
  });
  return {
    listen: (address) =>
      new Promise((resolve, reject) =>
        server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (e, port) =>
          e ? reject(e) : resolve(port),
        ),
      ),
    close: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
}

const nullLogger = { debug() {}, info() {}, warn() {}, error() {} };

export const serverVariants: Record<string, () => Promise<BenchServer>> = {
  bare: async () => grpcJsServer(),
  // References, to explain the numbers: an empty grpc-js interceptor layer, and bare grpc-js in a
  // process where an AsyncLocalStorage is enabled (on Node 20 that turns on async hooks for every
  // async resource, whoever enables it: weft's call context or OpenTelemetry's context manager).
  'ref:empty-layer': async () => {
    const grpc = loadGrpc();
    return grpcJsServer([(_d, call) => new grpc.ServerInterceptingCall(call)]);
  },
  /** Five empty layers: what grpc-js charges for the layer count of the full preset. */
  'ref:five-empty-layers': async () => {
    const grpc = loadGrpc();
    const empty: grpcTypes.ServerInterceptor = (_d, call) => new grpc.ServerInterceptingCall(call);
    return grpcJsServer([empty, empty, empty, empty, empty]);
  },
  'ref:async-local-storage': async () => {
    const { AsyncLocalStorage } = require('node:async_hooks');
    const als = new AsyncLocalStorage();
    als.run({}, () => {});
    return grpcJsServer();
  },
  /** weft's layer with no stage: the per-call context every weft server interceptor builds on. */
  context: async () => {
    const core = require('@weft/core') as typeof import('@weft/core');
    return grpcJsServer([core.stagedInterceptor()]);
  },
  /** The same with `setAsyncContext(false)`: handlers read the context from their call. */
  'context:no-async-context': async () => {
    const core = require('@weft/core') as typeof import('@weft/core');
    core.setAsyncContext(false);
    return grpcJsServer([core.stagedInterceptor()]);
  },

  recovery: async () => {
    const { recovery } = require('@weft/core') as typeof import('@weft/core');
    return grpcJsServer([recovery()]);
  },

  logging: async () => {
    const { serverLogging } = require('@weft/core') as typeof import('@weft/core');
    return grpcJsServer([serverLogging({ logger: nullLogger })]);
  },

  'auth:hs256': async () => {
    const { jwtAuth } = require('@weft/auth') as typeof import('@weft/auth');
    const { BENCH_SECRET } = require('./credentials') as typeof import('./credentials');
    return grpcJsServer([jwtAuth({ keys: { secret: BENCH_SECRET }, algorithms: ['HS256'] })]);
  },

  'auth:rs256': async () => {
    const { jwtAuth } = require('@weft/auth') as typeof import('@weft/auth');
    const { rs256Credentials } = require('./credentials') as typeof import('./credentials');
    const { publicKey, token } = rs256Credentials();
    return { ...grpcJsServer([jwtAuth({ keys: { publicKey }, algorithms: ['RS256'] })]), token };
  },

  /** weft tracing with the same SDK setup as the peers (batch processor, dropping exporter). */
  tracing: async () => {
    const { registerTracingSdk } = require('./otel-sdk') as typeof import('./otel-sdk');
    const sdk = registerTracingSdk();
    const { serverTracing } = require('@weft/tracing') as typeof import('@weft/tracing');
    return { ...grpcJsServer([serverTracing()]), stats: sdk.stats };
  },

  metrics: async () => {
    const { serverMetrics } = require('@weft/metrics') as typeof import('@weft/metrics');
    return grpcJsServer([serverMetrics()]);
  },

  /**
   * gRFC A66's instruments (`grpcOtelServerMetrics`) on an SDK MeterProvider whose reader is a
   * PrometheusExporter without its server, as the demo sets it up: the cost of recording; nobody
   * scrapes during the run.
   */
  'metrics:a66': async () => {
    const { grpcOtelServerMetrics } = require('@weft/metrics') as typeof import('@weft/metrics');
    const { MeterProvider } =
      require('@opentelemetry/sdk-metrics') as typeof import('@opentelemetry/sdk-metrics');
    const { PrometheusExporter } =
      require('@opentelemetry/exporter-prometheus') as typeof import('@opentelemetry/exporter-prometheus');
    const meterProvider = new MeterProvider({
      readers: [new PrometheusExporter({ preventServerStart: true })],
    });
    // `services`, as the demo: the request serializer measures received sizes.
    const services = [loadEchoProto().weft.test.TestService.service];
    return grpcJsServer([grpcOtelServerMetrics({ meterProvider, services })]);
  },

  /** A limit high enough never to refuse: the cost of checking it. */
  'rate-limit': async () => {
    const { rateLimit } = require('@weft/resilience') as typeof import('@weft/resilience');
    return grpcJsServer([rateLimit({ rules: [{ name: 'bench', rate: 1e9, burst: 1e9, key: 'peer' }] })]);
  },

  deadline: async () => {
    const { serverDeadline } = require('@weft/resilience') as typeof import('@weft/resilience');
    return grpcJsServer([serverDeadline({ default: 10_000, max: 30_000 })]);
  },

  /** The full server preset of issue 8: tracing, metrics, deadline, auth, rate limit, recovery. */
  preset: async () => presetServer(false),
  /** The same with logging to a null sink, as the demo runs. */
  'preset+logging': async () => presetServer(true),

  'otel-instrumentation-grpc': async () => {
    const { registerTracingSdk } = require('./otel-sdk') as typeof import('./otel-sdk');
    registerTracingSdk();
    const { GrpcInstrumentation } = require('@opentelemetry/instrumentation-grpc');
    const { registerInstrumentations } = require('@opentelemetry/instrumentation');
    registerInstrumentations({ instrumentations: [new GrpcInstrumentation()] });
    return grpcJsServer();
  },

  'nice-grpc+prometheus+otel': async () => {
    const { registerTracingSdk } = require('./otel-sdk') as typeof import('./otel-sdk');
    registerTracingSdk();
    const { createServer } = require('nice-grpc') as typeof import('nice-grpc');
    const { prometheusServerMiddleware } =
      require('nice-grpc-prometheus') as typeof import('nice-grpc-prometheus');
    const { openTelemetryServerMiddleware } =
      require('nice-grpc-opentelemetry') as typeof import('nice-grpc-opentelemetry');
    const server = createServer().use(prometheusServerMiddleware()).use(openTelemetryServerMiddleware());
    const proto = loadEchoProto();
    const definition = proto.weft.test.TestService.service;
    // nice-grpc takes method names from the definition's keys (`Unary`...) and wants them all.
    const unary = async (request: { message: string }) => ({ message: request.message });
    const unused = async () => ({});
    server.add(definition, {
      Unary: unary,
      async *ServerStream(request: { message: string }) {
        for (let i = 0; i < STREAM_MESSAGES; i++) yield { message: request.message, index: i };
      },
      ClientStream: unused,
      async *Bidi() {},
      Fail: unused,
      Sleep: unused,
    } as never);
    return { listen: (address) => server.listen(address), close: () => server.shutdown() };
  },
};

/** `serverInterceptors()` with every weft interceptor the demo uses (logging optional). */
function presetServer(logging: boolean): BenchServer {
  const { registerTracingSdk } = require('./otel-sdk') as typeof import('./otel-sdk');
  const sdk = registerTracingSdk();
  const core = require('@weft/core') as typeof import('@weft/core');
  const { jwtAuth } = require('@weft/auth') as typeof import('@weft/auth');
  const { serverTracing } = require('@weft/tracing') as typeof import('@weft/tracing');
  const { serverMetrics } = require('@weft/metrics') as typeof import('@weft/metrics');
  const { rateLimit, serverDeadline } = require('@weft/resilience') as typeof import('@weft/resilience');
  const { BENCH_SECRET } = require('./credentials') as typeof import('./credentials');
  const interceptors = core.serverInterceptors({
    tracing: serverTracing(),
    metrics: serverMetrics(),
    logging: logging ? core.serverLogging({ logger: nullLogger }) : undefined,
    deadline: serverDeadline({ default: 10_000, max: 30_000 }),
    auth: jwtAuth({ keys: { secret: BENCH_SECRET }, algorithms: ['HS256'] }),
    rateLimit: rateLimit({ rules: [{ name: 'bench', rate: 1e9, burst: 1e9, key: 'subject' }] }),
  });
  return { ...grpcJsServer(interceptors), stats: sdk.stats };
}
