/** A one-method service without a .proto (JSON on the wire), so the examples stand alone. */
import * as grpc from '@grpc/grpc-js';

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

/** The client class, as a generated one would be. */
export const WhoAmIClient = grpc.makeGenericClientConstructor(WhoAmIService, 'WhoAmI');

/** One WhoAmI call: which instance answered. */
export function whoAmI(client: grpc.Client): Promise<WhoAmIReply> {
  const { path, requestSerialize, responseDeserialize } = WhoAmIService.whoAmI;
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(path, requestSerialize, responseDeserialize, {}, (error, reply) =>
      error || reply === undefined ? reject(error) : resolve(reply as WhoAmIReply),
    ),
  );
}
