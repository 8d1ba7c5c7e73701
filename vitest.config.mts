import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources; the dist build is tested by test/packaging.test.ts.
    alias: [
      {
        find: /^@weft\/(core|auth|tracing|metrics|resilience|etcd|balancing)$/,
        replacement: `${root}packages/$1/src/index.ts`,
      },
    ],
  },
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'test/**/*.test.ts',
      'examples/*/test/**/*.test.ts',
      'prometheus/**/*.test.ts',
      'grafana/**/*.test.ts',
      'bench/**/*.test.ts',
    ],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // Real servers on real ports: two cores, so keep the parallelism modest.
    maxWorkers: 2,
  },
});
