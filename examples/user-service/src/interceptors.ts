import type * as grpc from '@grpc/grpc-js';
import { type Logger, not, recovery, serverInterceptors, serverLogging } from '@weft/core';
import type { DemoConfig } from './config';

/** Everything but health checks and reflection, which never need credentials or limits. */
export const applicationMethods = not(
  (m) => m.service.startsWith('grpc.health.') || m.service.startsWith('grpc.reflection.'),
);

export interface DemoServerDeps {
  config: DemoConfig;
  logger: Logger;
}

/**
 * The demo's server interceptors, every weft piece on. The preset orders them; `selector(...,
 * applicationMethods)` keeps health and reflection free of auth and limits.
 */
export function demoServerInterceptors({ logger }: DemoServerDeps): grpc.ServerInterceptor[] {
  return serverInterceptors({
    logging: serverLogging({ logger }),
    recovery: recovery({
      onError: (error, { method }) =>
        logger.error({ err: error, method: method.fullMethod }, 'handler failed'),
    }),
  });
}
