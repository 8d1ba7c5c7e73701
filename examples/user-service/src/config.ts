/** The demo's settings, all from the environment, with the defaults the README documents. */
export interface DemoConfig {
  host: string;
  grpcPort: number;
  metricsPort: number;
  logLevel: string;
  /** Seconds to wait for in-flight calls on SIGTERM/SIGINT before cancelling them. */
  shutdownGraceSeconds: number;
  jwt: JwtConfig;
  limits: LimitsConfig;
  etcd: EtcdConfig | undefined;
}

/** Registration, discovery and watched limits, when ETCD_ENDPOINTS is set. */
export interface EtcdConfig {
  endpoints: string[];
  /** Address other processes reach this instance at. Default: the listening host and port. */
  advertiseAddress: string | undefined;
  /** Key holding the live limits document (JSON). */
  configKey: string;
}

/** The demo's limits and deadlines (README lists the variables and defaults). */
export interface LimitsConfig {
  /** Per-subject token bucket: tokens per second. */
  rateLimitRps: number;
  /** Per-subject token bucket: size. */
  rateLimitBurst: number;
  /** Calls in flight per method before RESOURCE_EXHAUSTED. */
  maxInFlight: number;
  /** `ADAPTIVE_CONCURRENCY=1`: an adaptive (Gradient2) limit over all application calls, too. */
  adaptiveConcurrency: boolean;
  /** Deadline given to calls that arrive without one, ms. */
  defaultDeadlineMs: number;
  /** Longest deadline the server accepts, ms. */
  maxDeadlineMs: number;
}

/** HS256 settings shared by the demo server (verifies) and `npm run token` / the demo client (mint). */
export interface JwtConfig {
  secret: string;
  issuer: string;
  audience: string;
  /** True when JWT_SECRET was unset and the well-known development secret is in use. */
  insecureDevSecret: boolean;
}

/** Known to everyone who reads this file: fine for a laptop, never for a deployment. */
export const DEV_JWT_SECRET = 'weft-demo-development-secret-do-not-deploy';

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
    jwt: {
      secret: env.JWT_SECRET || DEV_JWT_SECRET,
      issuer: env.JWT_ISSUER || 'weft-demo',
      audience: env.JWT_AUDIENCE || 'user-service',
      insecureDevSecret: !env.JWT_SECRET,
    },
    etcd: env.ETCD_ENDPOINTS
      ? {
          endpoints: env.ETCD_ENDPOINTS.split(',').map((e) => e.trim()),
          advertiseAddress: env.ADVERTISE_ADDRESS || undefined,
          configKey: env.ETCD_CONFIG_KEY || '/config/user-service',
        }
      : undefined,
    limits: {
      rateLimitRps: intFromEnv(env, 'RATE_LIMIT_RPS', 100),
      rateLimitBurst: intFromEnv(env, 'RATE_LIMIT_BURST', 200),
      maxInFlight: intFromEnv(env, 'MAX_IN_FLIGHT', 100),
      adaptiveConcurrency: env.ADAPTIVE_CONCURRENCY === '1',
      defaultDeadlineMs: intFromEnv(env, 'DEFAULT_DEADLINE_MS', 10_000),
      maxDeadlineMs: intFromEnv(env, 'MAX_DEADLINE_MS', 30_000),
    },
  };
}
