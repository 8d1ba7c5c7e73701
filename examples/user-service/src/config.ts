/** The demo's settings, all from the environment, with the defaults the README documents. */
export interface DemoConfig {
  host: string;
  grpcPort: number;
  metricsPort: number;
  logLevel: string;
  /** Seconds to wait for in-flight calls on SIGTERM/SIGINT before cancelling them. */
  shutdownGraceSeconds: number;
}

export function intFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): DemoConfig {
  return {
    host: env.HOST || '127.0.0.1',
    grpcPort: intFromEnv(env, 'GRPC_PORT', 50051),
    metricsPort: intFromEnv(env, 'METRICS_PORT', 9464),
    logLevel: env.LOG_LEVEL || 'info',
    shutdownGraceSeconds: intFromEnv(env, 'SHUTDOWN_GRACE_SECONDS', 10),
  };
}
