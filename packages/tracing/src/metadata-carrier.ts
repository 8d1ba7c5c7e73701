import type { Metadata } from '@grpc/grpc-js';
import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';

/**
 * Headers that carry exactly one value. A request with two `traceparent` headers is ambiguous
 * (W3C Trace Context: a vendor must not pick one), so the getter reports neither and a new trace starts.
 */
const SINGLE_VALUED = new Set(['traceparent']);

/**
 * Reads propagation headers from grpc-js `Metadata`. Only string values count (binary `-bin` keys
 * never carry trace context); several values come back as an array (`tracestate` and `baggage`
 * propagators join them), except for single-valued headers, where more than one value is invalid.
 */
export const metadataGetter: TextMapGetter<Metadata> = {
  keys(carrier) {
    return Object.keys(carrier.getMap());
  },
  get(carrier, key) {
    const values = carrier.get(key);
    if (values.length === 0) return undefined;
    if (values.length === 1) {
      const value = values[0];
      return typeof value === 'string' ? value : undefined;
    }
    if (SINGLE_VALUED.has(key)) return undefined;
    const strings: string[] = [];
    for (const value of values) if (typeof value === 'string') strings.push(value);
    return strings.length === 0 ? undefined : strings;
  },
};

/** Writes propagation headers into outgoing grpc-js `Metadata`, replacing any value already there. */
export const metadataSetter: TextMapSetter<Metadata> = {
  set(carrier, key, value) {
    carrier.set(key, value);
  },
};
