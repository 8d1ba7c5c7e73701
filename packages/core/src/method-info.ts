/** The four gRPC call shapes, named as go-grpc-prometheus names them in `grpc_type`. */
export type CallType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

/** What weft knows about a method, parsed once from its path and cached for the life of the process. */
export interface MethodInfo {
  /** The path grpc-js routes on: `/package.Service/Method`. */
  readonly path: string;
  /** `package.Service/Method`: the OpenTelemetry span name. */
  readonly fullMethod: string;
  /** Fully-qualified service name: `package.Service`. */
  readonly service: string;
  /** Method name: `Method`. */
  readonly method: string;
  readonly type: CallType;
}

/** The method fields grpc-js hands to server and client interceptors. */
export interface MethodShape {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

// The methods a server registers or a client calls; grpc-js rejects unknown methods on the server
// before interceptors run, and clients stop adding past MAX_CACHED_METHODS.
const cache = new Map<string, MethodInfo>();
const MAX_CACHED_METHODS = 10_000;

export function callType(requestStream: boolean, responseStream: boolean): CallType {
  if (requestStream) return responseStream ? 'bidi_stream' : 'client_stream';
  return responseStream ? 'server_stream' : 'unary';
}

/** Parses `/package.Service/Method` into its parts. A path without that shape keeps it whole as the method. */
export function methodInfo(shape: MethodShape): MethodInfo {
  const cached = cache.get(shape.path);
  if (cached !== undefined) return cached;
  const info = parseMethod(shape);
  // A client may call any path (a proxy forwarding input): stop remembering past a bound.
  if (cache.size < MAX_CACHED_METHODS) cache.set(shape.path, info);
  return info;
}

function parseMethod({ path, requestStream, responseStream }: MethodShape): MethodInfo {
  const trimmed = path.startsWith('/') ? path.slice(1) : path;
  const slash = trimmed.lastIndexOf('/');
  const service = slash > 0 ? trimmed.slice(0, slash) : 'unknown';
  const method = slash >= 0 ? trimmed.slice(slash + 1) : trimmed;
  return Object.freeze({
    path,
    fullMethod: trimmed,
    service,
    method,
    type: callType(requestStream, responseStream),
  });
}
