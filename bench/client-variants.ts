/** Client-side variants: interceptors on the load process's client, measured on that process. */
import type * as grpcTypes from '@grpc/grpc-js';

export const clientVariants: Record<string, () => grpcTypes.Interceptor[]> = {
  bare: () => [],
  logging: () => {
    const { clientLogging } = require('@weft/core') as typeof import('@weft/core');
    const nullLogger = { debug() {}, info() {}, warn() {}, error() {} };
    return [clientLogging({ logger: nullLogger })];
  },
};
