// Original file: proto/test.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { EchoRequest as _weft_test_EchoRequest, EchoRequest__Output as _weft_test_EchoRequest__Output } from '../../weft/test/EchoRequest';
import type { EchoResponse as _weft_test_EchoResponse, EchoResponse__Output as _weft_test_EchoResponse__Output } from '../../weft/test/EchoResponse';

export interface TestServiceClient extends grpc.Client {
  Bidi(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_weft_test_EchoRequest, _weft_test_EchoResponse__Output>;
  Bidi(options?: grpc.CallOptions): grpc.ClientDuplexStream<_weft_test_EchoRequest, _weft_test_EchoResponse__Output>;
  bidi(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_weft_test_EchoRequest, _weft_test_EchoResponse__Output>;
  bidi(options?: grpc.CallOptions): grpc.ClientDuplexStream<_weft_test_EchoRequest, _weft_test_EchoResponse__Output>;
  
  ClientStream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientWritableStream<_weft_test_EchoRequest>;
  ClientStream(metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientWritableStream<_weft_test_EchoRequest>;
  ClientStream(options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientWritableStream<_weft_test_EchoRequest>;
  ClientStream(callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientWritableStream<_weft_test_EchoRequest>;
  clientStream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientWritableStream<_weft_test_EchoRequest>;
  clientStream(metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientWritableStream<_weft_test_EchoRequest>;
  clientStream(options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientWritableStream<_weft_test_EchoRequest>;
  clientStream(callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientWritableStream<_weft_test_EchoRequest>;
  
  Fail(argument: _weft_test_EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  Fail(argument: _weft_test_EchoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  Fail(argument: _weft_test_EchoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  Fail(argument: _weft_test_EchoRequest, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  fail(argument: _weft_test_EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  fail(argument: _weft_test_EchoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  fail(argument: _weft_test_EchoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  fail(argument: _weft_test_EchoRequest, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  
  ServerStream(argument: _weft_test_EchoRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_weft_test_EchoResponse__Output>;
  ServerStream(argument: _weft_test_EchoRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_weft_test_EchoResponse__Output>;
  serverStream(argument: _weft_test_EchoRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_weft_test_EchoResponse__Output>;
  serverStream(argument: _weft_test_EchoRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_weft_test_EchoResponse__Output>;
  
  Sleep(argument: _weft_test_EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  Sleep(argument: _weft_test_EchoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  Sleep(argument: _weft_test_EchoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  Sleep(argument: _weft_test_EchoRequest, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  sleep(argument: _weft_test_EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  sleep(argument: _weft_test_EchoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  sleep(argument: _weft_test_EchoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  sleep(argument: _weft_test_EchoRequest, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  
  Unary(argument: _weft_test_EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  Unary(argument: _weft_test_EchoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  Unary(argument: _weft_test_EchoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  Unary(argument: _weft_test_EchoRequest, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  unary(argument: _weft_test_EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  unary(argument: _weft_test_EchoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  unary(argument: _weft_test_EchoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  unary(argument: _weft_test_EchoRequest, callback: grpc.requestCallback<_weft_test_EchoResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface TestServiceHandlers extends grpc.UntypedServiceImplementation {
  Bidi: grpc.handleBidiStreamingCall<_weft_test_EchoRequest__Output, _weft_test_EchoResponse>;
  
  ClientStream: grpc.handleClientStreamingCall<_weft_test_EchoRequest__Output, _weft_test_EchoResponse>;
  
  Fail: grpc.handleUnaryCall<_weft_test_EchoRequest__Output, _weft_test_EchoResponse>;
  
  ServerStream: grpc.handleServerStreamingCall<_weft_test_EchoRequest__Output, _weft_test_EchoResponse>;
  
  Sleep: grpc.handleUnaryCall<_weft_test_EchoRequest__Output, _weft_test_EchoResponse>;
  
  Unary: grpc.handleUnaryCall<_weft_test_EchoRequest__Output, _weft_test_EchoResponse>;
  
}

export interface TestServiceDefinition extends grpc.ServiceDefinition {
  Bidi: MethodDefinition<_weft_test_EchoRequest, _weft_test_EchoResponse, _weft_test_EchoRequest__Output, _weft_test_EchoResponse__Output>
  ClientStream: MethodDefinition<_weft_test_EchoRequest, _weft_test_EchoResponse, _weft_test_EchoRequest__Output, _weft_test_EchoResponse__Output>
  Fail: MethodDefinition<_weft_test_EchoRequest, _weft_test_EchoResponse, _weft_test_EchoRequest__Output, _weft_test_EchoResponse__Output>
  ServerStream: MethodDefinition<_weft_test_EchoRequest, _weft_test_EchoResponse, _weft_test_EchoRequest__Output, _weft_test_EchoResponse__Output>
  Sleep: MethodDefinition<_weft_test_EchoRequest, _weft_test_EchoResponse, _weft_test_EchoRequest__Output, _weft_test_EchoResponse__Output>
  Unary: MethodDefinition<_weft_test_EchoRequest, _weft_test_EchoResponse, _weft_test_EchoRequest__Output, _weft_test_EchoResponse__Output>
}
