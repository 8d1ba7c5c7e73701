import { type Attributes, SpanKind, type SpanOptions } from '@opentelemetry/api';
import type { MethodInfo } from '@weft/core';
import { ATTR_RPC_METHOD, ATTR_RPC_SERVICE, ATTR_RPC_SYSTEM, RPC_SYSTEM_VALUE_GRPC } from './semconv';

/** What every span of one method starts with: built once per method, shared by all its calls. */
export interface MethodSpans {
  /** `package.Service/Method`. */
  readonly name: string;
  readonly server: SpanOptions;
  readonly client: SpanOptions;
}

// Bounded like core's method cache: by the methods a server registers or a client calls. The SDK
// copies start attributes into each span, so sharing one frozen object is safe.
const cache = new Map<string, MethodSpans>();

export function methodSpans(method: MethodInfo): MethodSpans {
  const cached = cache.get(method.path);
  if (cached !== undefined) return cached;
  const attributes: Attributes = Object.freeze({
    [ATTR_RPC_SYSTEM]: RPC_SYSTEM_VALUE_GRPC,
    [ATTR_RPC_SERVICE]: method.service,
    [ATTR_RPC_METHOD]: method.method,
  });
  const spans: MethodSpans = Object.freeze({
    name: method.fullMethod,
    server: Object.freeze({ kind: SpanKind.SERVER, attributes }),
    client: Object.freeze({ kind: SpanKind.CLIENT, attributes }),
  });
  if (cache.size < 10_000) cache.set(method.path, spans); // bounded: clients may call any path
  return spans;
}
