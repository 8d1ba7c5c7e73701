/** The demo's settings, all from the environment, with the defaults the README documents. */
export interface DemoConfig {
  host: string;
  grpcPort: number;
  metricsPort: number;
  /** gRFC A66's OpenTelemetry instruments, through the OTel Prometheus exporter (OTEL_METRICS_PORT). */
  otelMetricsPort: number;
  logLevel: string;
  /** Seconds to wait for in-flight calls on SIGTERM/SIGINT before cancelling them. */
  shutdownGraceSeconds: number;
  jwt: JwtConfig;
  limits: LimitsConfig;
  etcd: EtcdConfig | undefined;
  /** TLS (and mTLS with a CA) when TLS_CERT and TLS_KEY are set; plaintext otherwise. */
  tls: TlsConfig | undefined;
  /** A replica made slow on purpose, to watch load-aware balancing (both 0: a normal replica). */
  slowdown: SlowdownConfig;
}

/**
 * Demo only: extra work before each UserService call's handler, so one replica of several can be
 * the slow one (docker-compose's user-service-3). Health, reflection and load reports stay fast.
 */
export interface SlowdownConfig {
  /**
   * HANDLER_DELAY_MS: wait this long (a timer: no CPU), like a replica waiting on a slow disk or
   * database. CPU-based load reports do not see it; `least_request` does (calls stay in flight).
   */
  delayMs: number;
  /**
   * HANDLER_CPU_MS: burn this much CPU (a busy loop on the one JavaScript thread), like a replica
   * on a slower or shared machine. Its load reports show it, so `weighted_round_robin` sees it.
   */
  cpuMs: number;
}

/** Longer than any deadline the demo accepts (MAX_DEADLINE_MS defaults to 30 s): a hung replica. */
export const MAX_HANDLER_DELAY_MS = 60_000;
/**
 * A busy loop blocks the whole process (health checks, metrics scrapes, load reports): past a
 * second a call the replica would look dead rather than slow.
 */
export const MAX_HANDLER_CPU_MS = 1_000;

/** The server's TLS files, read again every `refreshSeconds` so rotated certificates apply without a restart. */
export interface TlsConfig {
  certFile: string;
  keyFile: string;
  /** CA that client certificates must chain to (TLS_CA): turns on mTLS and `peerIdentity`. */
  caFile: string | undefined;
  /** Refuse the handshake of clients without a valid certificate (TLS_REQUIRE_CLIENT_CERT, default true with a CA). */
  requireClientCert: boolean;
  /** How often the files are read again (TLS_REFRESH_SECONDS, default 60). */
  refreshSeconds: number;
}

/** Registration, discovery and watched limits, when ETCD_ENDPOINTS is set. */
export interface EtcdConfig {
  endpoints: string[];
  /** Address other processes reach this instance at. Default: the listening host and port. */
  advertiseAddress: string | undefined;
  /** Key holding the live limits document (JSON). */
  configKey: string;
  /** Methods (`package.Service/Method`) only the elected replica serves; empty: no election. */
  leaderOnlyMethods: string[];
  /** Lease TTL of the election in seconds: how long a crashed leader keeps the leadership. */
  leaderTtl: number;
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

function boolFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new Error(`${name} must be true or false, got "${raw}"`);
}

/** `name` as an integer from 0 to `max`, with an error naming the variable otherwise. */
function boundedIntFromEnv(env: NodeJS.ProcessEnv, name: string, max: number, why: string): number {
  const value = intFromEnv(env, name, 0);
  if (value > max) throw new Error(`${name} must be at most ${max} (${why}), got "${env[name]}"`);
  return value;
}

/** HANDLER_DELAY_MS and HANDLER_CPU_MS, checked at startup. */
export function slowdownFromEnv(env: NodeJS.ProcessEnv): SlowdownConfig {
  return {
    delayMs: boundedIntFromEnv(env, 'HANDLER_DELAY_MS', MAX_HANDLER_DELAY_MS, 'a minute'),
    cpuMs: boundedIntFromEnv(
      env,
      'HANDLER_CPU_MS',
      MAX_HANDLER_CPU_MS,
      'a busy loop blocks the whole process, health checks included',
    ),
  };
}

/** TLS_CERT + TLS_KEY (both or neither), TLS_CA, TLS_REQUIRE_CLIENT_CERT, TLS_REFRESH_SECONDS. */
export function tlsFromEnv(env: NodeJS.ProcessEnv): TlsConfig | undefined {
  const certFile = env.TLS_CERT || undefined;
  const keyFile = env.TLS_KEY || undefined;
  const caFile = env.TLS_CA || undefined;
  // TLS_CA alone is a client's setting (the CA of the server certificate): clients load this
  // config too (for the JWT settings), so it is no error here; the server logs its `transport`.
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) throw new Error('TLS_CERT and TLS_KEY go together');
  const requireClientCert = boolFromEnv(env, 'TLS_REQUIRE_CLIENT_CERT', caFile !== undefined);
  if (requireClientCert && caFile === undefined) throw new Error('TLS_REQUIRE_CLIENT_CERT needs TLS_CA');
  return {
    certFile,
    keyFile,
    caFile,
    requireClientCert,
    refreshSeconds: intFromEnv(env, 'TLS_REFRESH_SECONDS', 60),
  };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): DemoConfig {
  return {
    host: env.HOST || '127.0.0.1',
    grpcPort: intFromEnv(env, 'GRPC_PORT', 50051),
    metricsPort: intFromEnv(env, 'METRICS_PORT', 9464),
    otelMetricsPort: intFromEnv(env, 'OTEL_METRICS_PORT', 9466),
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
          leaderOnlyMethods: leaderOnlyMethods(env.LEADER_ONLY_METHODS),
          leaderTtl: intFromEnv(env, 'LEADER_TTL', 10) || 10,
        }
      : noElection(env),
    tls: tlsFromEnv(env),
    slowdown: slowdownFromEnv(env),
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

/** `DeleteUser,UpdateUser` (UserService methods) or full `package.Service/Method` names. */
export function leaderOnlyMethods(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m.length > 0)
    .map((m) => (m.includes('/') ? m.replace(/^\//, '') : `weft.demo.v1.UserService/${m}`));
}

/** Leader election needs etcd: say so rather than serve those methods everywhere. */
function noElection(env: NodeJS.ProcessEnv): undefined {
  if (leaderOnlyMethods(env.LEADER_ONLY_METHODS).length > 0)
    throw new Error('LEADER_ONLY_METHODS needs ETCD_ENDPOINTS (the election runs in etcd)');
  return undefined;
}
