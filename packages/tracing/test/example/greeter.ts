/** The README example, kept compiling (typecheck) and running (readme-example.test.ts). */
import * as grpc from '@grpc/grpc-js';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { clientTracing, currentTrace, serverTracing } from '@weft/tracing';

// 1. The application picks the SDK (here: print spans to the console).
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())] }),
);

// 2. A service without a .proto file, JSON on the wire, to keep the example self-contained.
const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString()),
};
const Greeter = {
  SayHello: {
    path: '/demo.Greeter/SayHello',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
} satisfies grpc.ServiceDefinition;

const server = new grpc.Server({ interceptors: [serverTracing({ echoTraceId: true })] });
server.addService(Greeter, {
  SayHello(call: grpc.ServerUnaryCall<{ name: string }, unknown>, callback: grpc.sendUnaryData<unknown>) {
    // The server span is active in the handler: log its ids, start child spans, call other services.
    console.log('handling in trace', currentTrace());
    callback(null, { message: `hello ${call.request.name}` });
  },
});

server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    interceptors: [clientTracing()],
  });
  const { path, requestSerialize, responseDeserialize } = Greeter.SayHello;
  const call = client.makeUnaryRequest(
    path,
    requestSerialize,
    responseDeserialize,
    { name: 'weft' },
    (err, reply) => {
      console.log(err ?? reply);
    },
  );
  call.on('metadata', (headers: grpc.Metadata) => console.log('x-trace-id:', headers.get('x-trace-id')));
  call.on('status', () => {
    client.close();
    server.tryShutdown(() => {});
  });
});
