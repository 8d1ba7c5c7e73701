export { clientTracing } from './client-tracing';
export { type CurrentTrace, currentTrace } from './current-trace';
export { metadataGetter, metadataSetter } from './metadata-carrier';
export {
  type ClientTracingOptions,
  type Propagator,
  type ServerTracingOptions,
  TRACE_ID_HEADER,
  TRACER_NAME,
  TRACER_VERSION,
  type TracingOptions,
} from './options';
export { type ServerAddress, serverAddressOf } from './server-address';
export { isServerError, serverTracing } from './server-tracing';
