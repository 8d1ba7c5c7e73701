/**
 * Reading a policy's service config: the JSON form of a proto message, where a field may be
 * spelled camelCase (`choiceCount`) or as in the proto (`choice_count`).
 */

// biome-ignore lint/suspicious/noExplicitAny: the config is whatever JSON the service config held
type Json = any;

function field(json: Json, camel: string, snake: string): unknown {
  if (json === null || typeof json !== 'object') return undefined;
  return json[camel] ?? json[snake];
}

/** A number field, `undefined` when absent; anything else throws (grpc-js then rejects the config). */
export function configNumber(policy: string, json: Json, camel: string, snake: string): number | undefined {
  const value = field(json, camel, snake);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(`${policy}: ${camel} must be a number (got ${typeof value})`);
  }
  return value;
}

/** A string field, `undefined` when absent. */
export function configString(policy: string, json: Json, camel: string, snake: string): string | undefined {
  const value = field(json, camel, snake);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string')
    throw new Error(`${policy}: ${camel} must be a string (got ${typeof value})`);
  return value;
}
