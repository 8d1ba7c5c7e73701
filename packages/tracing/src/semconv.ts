/**
 * Semantic-convention names for RPC spans. Stable names come from `@opentelemetry/semantic-conventions`
 * (1.45, the version required, has the new RPC names as stable: `rpc.system.name`, `rpc.status_code`); the old
 * gRPC-specific ones that most backends still read (`rpc.system`, `rpc.service`,
 * `rpc.grpc.status_code`...) live only in its `incubating` entry point, which may break in a minor
 * release, so they are copied here as the package's README recommends for instrumentation libraries.
 */
export {
  ATTR_ERROR_TYPE,
  ATTR_EXCEPTION_MESSAGE,
  ATTR_EXCEPTION_TYPE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SYSTEM_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  RPC_SYSTEM_NAME_VALUE_GRPC,
} from '@opentelemetry/semantic-conventions';

/** `rpc.system` (incubating): the RPC system, `grpc` here. */
export const ATTR_RPC_SYSTEM = 'rpc.system' as const;
/** Value `grpc` of `rpc.system`. */
export const RPC_SYSTEM_VALUE_GRPC = 'grpc' as const;
/** `rpc.service` (incubating): the fully-qualified service name, `package.Service`. */
export const ATTR_RPC_SERVICE = 'rpc.service' as const;
/** `rpc.grpc.status_code` (incubating): the numeric gRPC status code. */
export const ATTR_RPC_GRPC_STATUS_CODE = 'rpc.grpc.status_code' as const;
/** `rpc.grpc.request.metadata.<key>` (incubating): request metadata values, as a string array. */
export const ATTR_RPC_GRPC_REQUEST_METADATA = (key: string): string => `rpc.grpc.request.metadata.${key}`;
/**
 * `rpc.request.metadata.<key>` (development, the new name of `rpc.grpc.request.metadata.<key>`):
 * request metadata values, as a string array.
 */
export const ATTR_RPC_REQUEST_METADATA = (key: string): string => `rpc.request.metadata.${key}`;
/** `rpc.message.type` (incubating): `SENT` or `RECEIVED`, on `message` events. */
export const ATTR_RPC_MESSAGE_TYPE = 'rpc.message.type' as const;
export const RPC_MESSAGE_TYPE_VALUE_SENT = 'SENT' as const;
export const RPC_MESSAGE_TYPE_VALUE_RECEIVED = 'RECEIVED' as const;
/** `rpc.message.id` (incubating): 1-based counter of messages per direction, on `message` events. */
export const ATTR_RPC_MESSAGE_ID = 'rpc.message.id' as const;
