import type * as grpc from '@grpc/grpc-js';
import { type Logger, not, recovery, serverInterceptors, serverLogging } from '@weft/core';

/** Everything but health checks and reflection, which never need credentials or limits. */
export const applicationMethods = not(
  (m) => m.service.startsWith('grpc.health.') || m.service.startsWith('grpc.reflection.'),
);

export interface DemoInterceptorDeps {
  logger: Logger;
}

/**
 * The demo's server interceptors, every weft piece on. The preset orders them; `selector` keeps
 * health and reflection free of auth and limits.
 */
export function demoServerInterceptors({ logger }: DemoInterceptorDeps): grpc.ServerInterceptor[] {
  return serverInterceptors({
    logging: serverLogging({ logger }),
    recovery: recovery({
      onError: (error, { method }) =>
        logger.error({ err: error, method: method.fullMethod }, 'handler failed'),
    }),
  });
}
