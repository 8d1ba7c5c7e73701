import * as grpc from '@grpc/grpc-js';
import { registerEtcdResolver, registerLeaderResolver } from '@weft/etcd';
import { Etcd3 } from 'etcd3';
import { DISCOVERY_NAME, loadUserProto } from './demo-server';
import type { UserServiceClient } from './generated/weft/demo/v1/UserService';
import { type LbPolicy, lbPolicyFromEnv, lbServiceConfig } from './lb-policy';
import { demoChannelCredentials } from './tls';

export interface ClientSettings {
  address: string;
  interceptors?: grpc.Interceptor[];
  /** Default: TLS / mTLS from TLS_CA, TLS_CLIENT_CERT, TLS_CLIENT_KEY, else plaintext (see tls.ts). */
  credentials?: grpc.ChannelCredentials;
  /** How calls are spread over the instances the resolver gives. Default: LB_POLICY (round_robin). */
  policy?: LbPolicy;
}

/** A UserService client for `address` (a host:port or `etcd:///user-service`), with the caller's interceptors. */
export function userClient({
  address,
  interceptors = [],
  credentials = demoChannelCredentials(),
  policy = lbPolicyFromEnv(),
}: ClientSettings): UserServiceClient {
  const { proto } = loadUserProto();
  return new proto.weft.demo.v1.UserService(address, credentials, {
    interceptors,
    // Spread calls over every instance the resolver knows (one, without etcd). The etcd resolver
    // hands the same config with its addresses (see demoTarget), which takes precedence.
    'grpc.service_config': JSON.stringify(lbServiceConfig(policy)),
  });
}

/**
 * Where the demo's own client, load generator and health check go: with ETCD_ENDPOINTS, every
 * instance registered in etcd (`etcd:///user-service`, balanced by LB_POLICY), or its leader when
 * ADDRESS is `etcd-leader:///user-service`; else ADDRESS, else 127.0.0.1:GRPC_PORT
 * (localhost:GRPC_PORT with TLS_CA).
 */
export function demoTarget(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ETCD_ENDPOINTS) {
    const serviceConfig = lbServiceConfig(lbPolicyFromEnv(env));
    const client = new Etcd3({ hosts: env.ETCD_ENDPOINTS.split(',').map((e) => e.trim()) });
    registerEtcdResolver({ client, serviceConfig });
    registerLeaderResolver({ client });
    // ADDRESS=etcd-leader:///user-service sends every call to the replica elected leader.
    return env.ADDRESS?.startsWith('etcd-leader:') ? env.ADDRESS : `etcd:///${DISCOVERY_NAME}`;
  }
  // With TLS a host name, which the server certificate names: grpc-js 1.14 sends the target host
  // as the TLS server name, and Node 26 refuses an IP address there.
  return env.ADDRESS || `${env.TLS_CA ? 'localhost' : '127.0.0.1'}:${env.GRPC_PORT || 50051}`;
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
