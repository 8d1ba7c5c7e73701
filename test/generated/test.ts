import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { EchoRequest as _weft_test_EchoRequest, EchoRequest__Output as _weft_test_EchoRequest__Output } from './weft/test/EchoRequest';
import type { EchoResponse as _weft_test_EchoResponse, EchoResponse__Output as _weft_test_EchoResponse__Output } from './weft/test/EchoResponse';
import type { TestServiceClient as _weft_test_TestServiceClient, TestServiceDefinition as _weft_test_TestServiceDefinition } from './weft/test/TestService';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  weft: {
    test: {
      EchoRequest: MessageTypeDefinition<_weft_test_EchoRequest, _weft_test_EchoRequest__Output>
      EchoResponse: MessageTypeDefinition<_weft_test_EchoResponse, _weft_test_EchoResponse__Output>
      TestService: SubtypeConstructor<typeof grpc.Client, _weft_test_TestServiceClient> & { service: _weft_test_TestServiceDefinition }
    }
  }
}

