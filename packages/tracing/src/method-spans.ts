import type { Attributes, SpanKind, SpanOptions } from '@opentelemetry/api';
import { EMIT_NEW, EMIT_OLD, type Emit, MethodCache, type MethodInfo } from '@weft/core';
import {
  ATTR_RPC_METHOD,
  ATTR_RPC_SERVICE,
  ATTR_RPC_SYSTEM,
  ATTR_RPC_SYSTEM_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  RPC_SYSTEM_NAME_VALUE_GRPC,
  RPC_SYSTEM_VALUE_GRPC,
} from './semconv';
import type { ServerAddress } from './server-address';

/** What every span of one method starts with: built once per method, shared by all its calls. */
export interface MethodSpans {
  /** `package.Service/Method` (the span name in both conventions: `{rpc.method}` in the new ones). */
  readonly name: string;
  readonly options: SpanOptions;
}

/**
 * The start attributes of one method's spans in the chosen conventions. In `dup` mode both name
 * `rpc.method`: the old value (`Method`) is kept, as OpenTelemetry's Python gRPC instrumentation
 * does, so dashboards on the old names keep working until the switch to `new`.
 */
function startAttributes(method: MethodInfo, emit: Emit, server: ServerAddress | undefined): Attributes {
  const attributes: Attributes = {};
  if (emit & EMIT_NEW) {
    attributes[ATTR_RPC_SYSTEM_NAME] = RPC_SYSTEM_NAME_VALUE_GRPC;
    attributes[ATTR_RPC_METHOD] = method.fullMethod;
  }
  if (emit & EMIT_OLD) {
    attributes[ATTR_RPC_SYSTEM] = RPC_SYSTEM_VALUE_GRPC;
    attributes[ATTR_RPC_SERVICE] = method.service;
    attributes[ATTR_RPC_METHOD] = method.method;
  }
  // At start, where the conventions want them: samplers may decide on them.
  if (server !== undefined) {
    attributes[ATTR_SERVER_ADDRESS] = server.address;
    if (server.port !== undefined) attributes[ATTR_SERVER_PORT] = server.port;
  }
  return Object.freeze(attributes);
}

/**
 * One interceptor's span options per method, so a call costs one map lookup: core's bounded
 * `MethodCache` (a client may call any path). The SDK copies start attributes into each span, so
 * sharing one frozen object is safe.
 */
export function methodSpanCache(
  kind: SpanKind.SERVER | SpanKind.CLIENT,
  emit: Emit,
  server: ServerAddress | undefined,
): MethodCache<MethodSpans> {
  return new MethodCache(
    (method): MethodSpans =>
      Object.freeze({
        name: method.fullMethod,
        options: Object.freeze({ kind, attributes: startAttributes(method, emit, server) }),
      }),
  );
}
