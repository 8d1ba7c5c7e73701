import type * as grpc from '@grpc/grpc-js';
import { clientInterceptors } from '@weft/core';

export interface DemoClientSettings {
  /** Environment the demo client reads its settings from (secrets, deadlines...). */
  env?: NodeJS.ProcessEnv;
}

/** The interceptors the demo client, the load generator and the tests use against the demo. */
export function demoClientInterceptors(_settings: DemoClientSettings = {}): grpc.Interceptor[] {
  return clientInterceptors({});
}
