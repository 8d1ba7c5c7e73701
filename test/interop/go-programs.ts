/**
 * The Go half of the interop suite: `build.sh` compiles `go/src/weftinterop/*` from Debian's Go
 * packages into `.build/` (gitignored, keyed by a hash of the sources). In CI (`CI` set) a missing
 * toolchain or package fails the suite; locally the suite is skipped with a loud message.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const HERE = __dirname;
export const GO_BIN = join(HERE, '.build', 'bin');

/** Debian package -> what must be there for the build (a command, or a Go import path). */
const NEEDED: readonly (readonly [string, string])[] = [
  ['golang-go', 'go'],
  ['protobuf-compiler', 'protoc'],
  // protoc-gen-go 1.3 (APIv1) for `plugins=grpc`; Debian's `protoc-gen-go` package is APIv2.
  ['protoc-gen-go-1-3', 'protoc-gen-go'],
  ['golang-github-golang-protobuf-1-3-dev', 'github.com/golang/protobuf/proto'],
  ['golang-google-grpc-dev', 'google.golang.org/grpc'],
  ['golang-etcd-server-dev', 'go.etcd.io/etcd/clientv3/naming/endpoints'],
  ['golang-github-grpc-ecosystem-go-grpc-prometheus-dev', 'github.com/grpc-ecosystem/go-grpc-prometheus'],
  ['golang-opentelemetry-otel-dev', 'go.opentelemetry.io/otel/sdk/trace'],
  ['golang-github-prometheus-client-golang-dev', 'github.com/prometheus/client_golang/prometheus'],
];

function present(what: string): boolean {
  if (what.includes('/')) return existsSync(join('/usr/share/gocode/src', what));
  try {
    execFileSync('sh', ['-c', `command -v ${what}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface GoToolchain {
  /** Debian packages whose part is missing. */
  readonly missing: readonly string[];
  /** Whether the suite runs: always in CI (and fails if something is missing), else only when complete. */
  readonly run: boolean;
}

export function goToolchain(): GoToolchain {
  const missing = NEEDED.filter(([, what]) => !present(what)).map(([pkg]) => pkg);
  const ci = Boolean(process.env.CI);
  if (missing.length > 0 && !ci) {
    process.stderr.write(
      `\n*** SKIPPING the Go interop suite: missing ${missing.join(', ')} (apt-get install ${missing.join(' ')}); CI fails instead ***\n\n`,
    );
  }
  return { missing, run: missing.length === 0 || ci };
}

/** Builds (or finds up to date) the Go programs; rejects with the build output on failure. */
export function buildGoPrograms(toolchain: GoToolchain): Promise<{ server: string; client: string }> {
  if (toolchain.missing.length > 0) {
    return Promise.reject(
      new Error(
        `the Go interop suite needs Debian packages that are not installed: ${toolchain.missing.join(', ')}`,
      ),
    );
  }
  return new Promise((resolve, reject) =>
    execFile('bash', [join(HERE, 'build.sh')], { timeout: 600_000 }, (error, _stdout, stderr) => {
      if (stderr.trim() !== '') process.stderr.write(`${stderr.trim()}\n`);
      if (error) reject(new Error(`test/interop/build.sh failed: ${error.message}\n${stderr}`));
      else resolve({ server: join(GO_BIN, 'interop-server'), client: join(GO_BIN, 'interop-client') });
    }),
  );
}
