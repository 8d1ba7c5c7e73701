/**
 * The shared test harness: a real grpc-js server on 127.0.0.1:0 serving `weft.test.TestService`
 * (every call shape, a failing method and a sleeping one) and a client for it. Each interceptor's
 * tests start one with their interceptors plugged in.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { getCallContext } from '@weft/core';
import type { ProtoGrpcType } from '../generated/test';
import type { EchoRequest, EchoRequest__Output } from '../generated/weft/test/EchoRequest';
import type { EchoResponse__Output } from '../generated/weft/test/EchoResponse';
import type { TestServiceClient, TestServiceHandlers } from '../generated/weft/test/TestService';

export type { EchoRequest, EchoResponse__Output, TestServiceClient, TestServiceHandlers };

export const PROTO_DIR = join(__dirname, '..', '..', 'proto');

export const METHODS = {
  unary: '/weft.test.TestService/Unary',
  serverStream: '/weft.test.TestService/ServerStream',
  clientStream: '/weft.test.TestService/ClientStream',
  bidi: '/weft.test.TestService/Bidi',
  fail: '/weft.test.TestService/Fail',
  sleep: '/weft.test.TestService/Sleep',
} as const;

let loaded: ProtoGrpcType | undefined;
export function testProto(): ProtoGrpcType {
  loaded ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(join(PROTO_DIR, 'test.proto'), { keepCase: false, defaults: true }),
  ) as unknown as ProtoGrpcType;
  return loaded;
}

/** What a handler reports from its per-call context; tests override it to read what they need. */
export type ContextProbe = () => Record<string, string>;

const defaultProbe: ContextProbe = () => {
  const context = getCallContext();
  const seen: Record<string, string> = {};
  if (context !== undefined) {
    seen.method = context.method.fullMethod;
    seen.type = context.method.type;
  }
  return seen;
};

export interface HarnessOptions {
  serverInterceptors?: grpc.ServerInterceptor[];
  clientInterceptors?: grpc.Interceptor[];
  /** Replace some of the default handlers. */
  handlers?: Partial<TestServiceHandlers>;
  serverOptions?: grpc.ServerOptions;
  clientOptions?: grpc.ClientOptions;
  /** Default insecure (plaintext). */
  serverCredentials?: grpc.ServerCredentials;
  /** The default client's and `newClient`'s credentials. Default insecure (plaintext). */
  clientCredentials?: grpc.ChannelCredentials;
  probe?: ContextProbe;
}

export interface Harness {
  readonly address: string;
  readonly port: number;
  readonly server: grpc.Server;
  readonly client: TestServiceClient;
  /** How many times each handler ran, keyed by method name (`Unary`, `Bidi`...). */
  readonly handled: Map<string, number>;
  /** A second client on the same server, e.g. with other interceptors or credentials. */
  newClient(options?: grpc.ClientOptions, credentials?: grpc.ChannelCredentials): TestServiceClient;
  close(): Promise<void>;
}

function failure(request: EchoRequest__Output): grpc.ServerErrorResponse {
  const metadata = new grpc.Metadata();
  metadata.set('x-failed-on-purpose', 'yes');
  return {
    name: 'TestFailure',
    message: request.failMessage || 'failed on request',
    code: request.failCode,
    details: request.failMessage || 'failed on request',
    metadata,
  };
}

/** Waits `ms`, or less if the call is cancelled first. */
function sleep(ms: number, call: { on(event: 'cancelled', fn: () => void): unknown }): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    call.on('cancelled', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function defaultHandlers(handled: Map<string, number>, probe: ContextProbe): TestServiceHandlers {
  const count = (name: string) => handled.set(name, (handled.get(name) ?? 0) + 1);
  return {
    async Unary(call, callback) {
      count('Unary');
      await sleep(call.request.sleepMs, call);
      if (call.request.failCode) return callback(failure(call.request));
      callback(null, { message: call.request.message, context: probe() });
    },
    async ServerStream(call) {
      count('ServerStream');
      await sleep(call.request.sleepMs, call);
      const n = call.request.count || 3;
      for (let i = 0; i < n && !call.cancelled; i++) {
        call.write({ message: call.request.message, index: i, context: probe() });
      }
      if (call.request.failCode) call.emit('error', failure(call.request));
      else call.end();
    },
    ClientStream(call, callback) {
      count('ClientStream');
      const messages: string[] = [];
      let failed: EchoRequest__Output | undefined;
      call.on('data', (request: EchoRequest__Output) => {
        messages.push(request.message);
        if (request.failCode) failed ??= request;
      });
      call.on('end', () => {
        if (failed) callback(failure(failed));
        else callback(null, { message: messages.join(','), index: messages.length, context: probe() });
      });
    },
    Bidi(call) {
      count('Bidi');
      let index = 0;
      call.on('data', (request: EchoRequest__Output) => {
        if (request.failCode) {
          call.emit('error', failure(request));
          return;
        }
        call.write({ message: request.message, index: index++, context: probe() });
      });
      call.on('end', () => call.end());
    },
    Fail(call, callback) {
      count('Fail');
      callback(failure({ ...call.request, failCode: call.request.failCode || grpc.status.INTERNAL }));
    },
    async Sleep(call, callback) {
      count('Sleep');
      await sleep(call.request.sleepMs || 1000, call);
      if (call.cancelled) return;
      callback(null, { message: call.request.message, context: probe() });
    },
  };
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const proto = testProto();
  const handled = new Map<string, number>();
  const server = new grpc.Server({
    ...options.serverOptions,
    interceptors: options.serverInterceptors ?? [],
  });
  const handlers = { ...defaultHandlers(handled, options.probe ?? defaultProbe), ...options.handlers };
  server.addService(proto.weft.test.TestService.service, handlers as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      '127.0.0.1:0',
      options.serverCredentials ?? grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    ),
  );
  const address = `127.0.0.1:${port}`;
  const clients: grpc.Client[] = [];
  const defaultCredentials = options.clientCredentials ?? grpc.credentials.createInsecure();
  const newClient = (clientOptions?: grpc.ClientOptions, credentials = defaultCredentials) => {
    // TLS clients dial a host name: grpc-js 1.14 sends the target host as the TLS server name,
    // which Node 26 refuses for an IP address (ERR_INVALID_ARG_VALUE; Node 20-24 only warn).
    const target = credentials._isSecure() ? `localhost:${port}` : address;
    const client = new proto.weft.test.TestService(target, credentials, clientOptions);
    clients.push(client);
    return client;
  };
  const client = newClient({ ...options.clientOptions, interceptors: options.clientInterceptors ?? [] });
  return {
    address,
    port,
    server,
    client,
    handled,
    newClient,
    async close() {
      for (const c of clients) c.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}

/** How a call ended, whatever its shape: the tests assert on this rather than on thrown errors. */
export interface CallResult {
  readonly status: grpc.StatusObject;
  readonly responses: EchoResponse__Output[];
  readonly headers: grpc.Metadata | undefined;
}

export interface CallOptions {
  metadata?: grpc.Metadata;
  deadline?: grpc.Deadline;
  options?: grpc.CallOptions;
}

function callOptions(options: CallOptions): grpc.CallOptions {
  return { ...options.options, ...(options.deadline === undefined ? {} : { deadline: options.deadline }) };
}

/** Runs `Unary` (or `Fail` / `Sleep`, same shape) and resolves with its outcome. */
export function unary(
  client: TestServiceClient,
  request: EchoRequest,
  options: CallOptions = {},
  method: 'Unary' | 'Fail' | 'Sleep' = 'Unary',
): Promise<CallResult> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    let response: EchoResponse__Output | undefined;
    const call = client[method](
      request,
      options.metadata ?? new grpc.Metadata(),
      callOptions(options),
      (_error, value) => {
        response = value;
      },
    );
    call.on('metadata', (md) => {
      headers = md;
    });
    // 'status' fires after the callback for both success and failure.
    call.on('status', (status) => resolve({ status, responses: response ? [response] : [], headers }));
  });
}

/** Reads a whole stream of responses and the final status. */
function collect(
  call:
    | grpc.ClientReadableStream<EchoResponse__Output>
    | grpc.ClientDuplexStream<EchoRequest, EchoResponse__Output>,
): Promise<CallResult> {
  return new Promise((resolve) => {
    const responses: EchoResponse__Output[] = [];
    let headers: grpc.Metadata | undefined;
    call.on('metadata', (md: grpc.Metadata) => {
      headers = md;
    });
    call.on('data', (r: EchoResponse__Output) => responses.push(r));
    call.on('error', () => {});
    call.on('status', (status: grpc.StatusObject) => {
      // Let buffered 'data' events drain before resolving.
      setImmediate(() => resolve({ status, responses, headers }));
    });
  });
}

export function serverStream(
  client: TestServiceClient,
  request: EchoRequest,
  options: CallOptions = {},
): Promise<CallResult> {
  return collect(client.ServerStream(request, options.metadata ?? new grpc.Metadata(), callOptions(options)));
}

export function clientStream(
  client: TestServiceClient,
  requests: EchoRequest[],
  options: CallOptions = {},
): Promise<CallResult> {
  return new Promise((resolve) => {
    let response: EchoResponse__Output | undefined;
    let headers: grpc.Metadata | undefined;
    const call = client.ClientStream(
      options.metadata ?? new grpc.Metadata(),
      callOptions(options),
      (_error, value) => {
        response = value;
      },
    );
    call.on('metadata', (md) => {
      headers = md;
    });
    call.on('status', (status) => resolve({ status, responses: response ? [response] : [], headers }));
    for (const r of requests) call.write(r);
    call.end();
  });
}

export function bidi(
  client: TestServiceClient,
  requests: EchoRequest[],
  options: CallOptions = {},
): Promise<CallResult> {
  const call = client.Bidi(options.metadata ?? new grpc.Metadata(), callOptions(options));
  const done = collect(call);
  for (const r of requests) call.write(r);
  call.end();
  return done;
}

/** Builds metadata from a plain object. */
export function metadata(entries: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [key, value] of Object.entries(entries)) md.set(key, value);
  return md;
}

/** Runs every call shape once with the same request; for "works on all four shapes" tests. */
export const SHAPES = {
  unary: (client: TestServiceClient, request: EchoRequest, options?: CallOptions) =>
    unary(client, request, options),
  server_stream: (client: TestServiceClient, request: EchoRequest, options?: CallOptions) =>
    serverStream(client, request, options),
  client_stream: (client: TestServiceClient, request: EchoRequest, options?: CallOptions) =>
    clientStream(client, [request, request], options),
  bidi_stream: (client: TestServiceClient, request: EchoRequest, options?: CallOptions) =>
    bidi(client, [request, request], options),
} as const;

/**
 * What a caller looping `await call()` over calls that fail fast does: two such loops run until a
 * 5 ms interval has fired 3 times, bounded by 20,000 calls and 1.5 s so that a call failing on a
 * microtask (which starves timers) fails the test instead of hanging it. Returns the interval's
 * ticks and the distinct `code details` outcomes.
 */
export async function spinFailingCalls(
  call: () => Promise<grpc.StatusObject>,
): Promise<{ ticks: number; codes: string[] }> {
  let ticks = 0;
  const interval = setInterval(() => ticks++, 5);
  const codes = new Set<string>();
  let calls = 0;
  const started = performance.now();
  const loop = async () => {
    while (ticks < 3 && calls < 20_000 && performance.now() - started < 1500) {
      const received = await call();
      codes.add(`${received.code} ${received.details}`);
      calls++;
    }
  };
  await Promise.all([loop(), loop()]).finally(() => clearInterval(interval));
  return { ticks, codes: [...codes] };
}
