/** A one-method service without a .proto (JSON on the wire), so the example stands alone. */
import type * as grpc from '@grpc/grpc-js';

const json = {
  serialize: (value: object) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString()),
};

export interface WhoAmIReply {
  instance: string;
}

export const WhoAmIService = {
  whoAmI: {
    path: '/demo.WhoAmI/WhoAmI',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
} satisfies grpc.ServiceDefinition;
