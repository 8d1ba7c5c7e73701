import type * as grpc from '@grpc/grpc-js';
import { bearerToken } from '@weft/auth';
import { clientInterceptors } from '@weft/core';
import { clientTracing } from '@weft/tracing';
import { loadConfig } from './config';
import { mintToken, READ_SCOPE, WRITE_SCOPE } from './tokens';

export interface DemoClientSettings {
  /** Environment the demo client reads its settings from (TOKEN, JWT_*...). */
  env?: NodeJS.ProcessEnv;
  /** Client metrics, when the caller serves them (the load generator does). */
  metrics?: grpc.Interceptor;
}

/**
 * The interceptors the demo client, the load generator and the tests use against the demo. The
 * token is TOKEN when set, else one minted for `demo-client` with both scopes and refreshed by
 * `bearerToken` before it expires.
 */
export function demoClientInterceptors({
  env = process.env,
  metrics,
}: DemoClientSettings = {}): grpc.Interceptor[] {
  const jwt = loadConfig(env).jwt;
  const auth = env.TOKEN
    ? bearerToken(env.TOKEN)
    : bearerToken(() =>
        mintToken(jwt, { subject: 'demo-client', scope: `${READ_SCOPE} ${WRITE_SCOPE}`, ttlSeconds: 600 }),
      );
  return clientInterceptors({ tracing: clientTracing(), metrics, auth });
}
