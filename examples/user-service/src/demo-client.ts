import * as grpc from '@grpc/grpc-js';
import { loadUserProto } from './demo-server';
import type { UserServiceClient } from './generated/weft/demo/v1/UserService';

export interface ClientSettings {
  address: string;
  interceptors?: grpc.Interceptor[];
}

/** A UserService client for the demo's address, with whatever interceptors the caller wants. */
export function userClient({ address, interceptors = [] }: ClientSettings): UserServiceClient {
  const { proto } = loadUserProto();
  return new proto.weft.demo.v1.UserService(address, grpc.credentials.createInsecure(), { interceptors });
}

/** Promise form of a unary call on the generated client. */
export function call<Req, Res>(
  client: UserServiceClient,
  method: 'GetUser' | 'CreateUser' | 'UpdateUser' | 'DeleteUser',
  request: Req,
  metadata = new grpc.Metadata(),
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = client[method].bind(client) as unknown as (
      r: Req,
      m: grpc.Metadata,
      cb: (e: grpc.ServiceError | null, v?: Res) => void,
    ) => void;
    fn(request, metadata, (error, value) => (error ? reject(error) : resolve(value as Res)));
  });
}
