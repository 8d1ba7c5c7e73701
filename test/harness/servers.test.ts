/**
 * When the tests that need a Debian server (Prometheus, etcd, Redis, docker-compose) run: the Node
 * 22 and 26 CI runs skip them on purpose (`WEFT_SERVER_TESTS=skip`), the full runs (Node 24, Node
 * 20) must never skip one silently: in CI a missing binary fails its tests.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { redisMode } from '../../packages/resilience/test/redis-server';
import { binary } from './servers';

const stderr = () => vi.spyOn(process.stderr, 'write').mockImplementation(() => true);

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('binary(): whether a server test runs', () => {
  it('runs an installed binary', () => {
    vi.stubEnv('CI', '');
    vi.stubEnv('WEFT_SERVER_TESTS', '');
    expect(binary('sh', 'dash')).toMatchObject({ run: true, name: 'sh' });
  });

  it('runs in CI even when the binary is missing, so the test fails instead of skipping', () => {
    vi.stubEnv('CI', 'true');
    vi.stubEnv('WEFT_SERVER_TESTS', '');
    expect(binary('weft-no-such-server', 'none')).toMatchObject({ run: true, path: undefined });
  });

  it('skips loudly outside CI when the binary is missing', () => {
    vi.stubEnv('CI', '');
    vi.stubEnv('WEFT_SERVER_TESTS', '');
    const write = stderr();
    expect(binary('weft-no-such-server', 'none').run).toBe(false);
    expect(String(write.mock.calls[0]?.[0])).toMatch(/SKIPPING tests that need weft-no-such-server/);
  });

  it('skips loudly with WEFT_SERVER_TESTS=skip, in CI and with the binary installed', () => {
    vi.stubEnv('CI', 'true');
    vi.stubEnv('WEFT_SERVER_TESTS', 'skip');
    const write = stderr();
    expect(binary('sh', 'dash').run).toBe(false);
    expect(String(write.mock.calls[0]?.[0])).toMatch(/SKIPPING tests that need sh: WEFT_SERVER_TESTS=skip/);
  });

  it('rejects any other WEFT_SERVER_TESTS value rather than guess', () => {
    vi.stubEnv('WEFT_SERVER_TESTS', 'no');
    expect(() => binary('sh', 'dash')).toThrow(/WEFT_SERVER_TESTS/);
  });
});

describe('redisMode(): the Redis store tests', () => {
  it('skips with WEFT_SERVER_TESTS=skip, in CI too', () => {
    vi.stubEnv('CI', 'true');
    vi.stubEnv('WEFT_SERVER_TESTS', 'skip');
    stderr();
    expect(redisMode()).toBe('skip');
  });

  it('runs or fails in CI without it', () => {
    vi.stubEnv('CI', 'true');
    vi.stubEnv('WEFT_SERVER_TESTS', '');
    expect(['run', 'fail']).toContain(redisMode());
  });
});
