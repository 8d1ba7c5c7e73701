import type * as grpc from '@grpc/grpc-js';
import { jwtAuth, type MethodPolicy } from '@weft/auth';
import { type Logger, not, recovery, serverInterceptors, serverLogging } from '@weft/core';
import type { MetricsInterceptor } from '@weft/metrics';
import { serverTracing } from '@weft/tracing';
import type { DemoConfig } from './config';
import { READ_SCOPE, WRITE_SCOPE } from './tokens';

/** Everything but health checks and reflection, which never need credentials or limits. */
export const applicationMethods = not(
  (m) => m.service.startsWith('grpc.health.') || m.service.startsWith('grpc.reflection.'),
);

const SERVICE = 'weft.demo.v1.UserService';
const read: MethodPolicy = { scopes: [READ_SCOPE] };
const write: MethodPolicy = { scopes: [WRITE_SCOPE] };

/** Reading needs `users:read`, writing `users:write`; health and reflection are public (jwtAuth's default). */
export const demoAuthPolicy: Record<string, MethodPolicy> = {
  [`/${SERVICE}/GetUser`]: read,
  [`/${SERVICE}/ListUsers`]: read,
  [`/${SERVICE}/CreateUser`]: write,
  [`/${SERVICE}/UpdateUser`]: write,
  [`/${SERVICE}/DeleteUser`]: write,
  [`/${SERVICE}/ImportUsers`]: write,
  // A method added to the proto without a line here is closed, not open.
  [SERVICE]: { scopes: ['users:admin'] },
};

export interface DemoServerDeps {
  config: DemoConfig;
  logger: Logger;
  /** Server metrics, created by the caller because the metrics server needs their registry. */
  metrics: MetricsInterceptor;
}

/** The demo's server interceptors, every weft piece on, ordered by the preset. */
export function demoServerInterceptors({
  config,
  logger,
  metrics,
}: DemoServerDeps): grpc.ServerInterceptor[] {
  return serverInterceptors({
    tracing: serverTracing({ echoTraceId: true }),
    metrics,
    logging: serverLogging({ logger }),
    auth: jwtAuth({
      keys: { secret: config.jwt.secret },
      algorithms: ['HS256'],
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      policy: demoAuthPolicy,
    }),
    recovery: recovery({
      onError: (error, { method }) =>
        logger.error({ err: error, method: method.fullMethod }, 'handler failed'),
    }),
  });
}
