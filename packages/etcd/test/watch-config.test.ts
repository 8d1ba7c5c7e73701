import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binary, waitUntil } from '../../../test/harness/servers';
import { type ConfigSnapshot, type ConfigWatch, InvalidConfigError, watchConfig } from '../src/index';
import { WATCH_CONFIG_DEFAULTS } from '../src/watch-config';
import { type EtcdServer, startEtcd } from './etcd-server';

const bin = binary('etcd', 'etcd-server');

interface Limits {
  rps: number;
  burst: number;
}

/** A validator as users write them: returns the typed value or throws saying what is wrong. */
function parseLimits(json: unknown): Limits {
  if (typeof json !== 'object' || json === null) throw new Error('expected an object');
  const { rps, burst } = json as Record<string, unknown>;
  if (typeof rps !== 'number' || rps <= 0) throw new Error('rps must be a positive number');
  if (typeof burst !== 'number' || burst < 1) throw new Error('burst must be at least 1');
  return { rps, burst };
}

describe.runIf(bin.run)('watchConfig (real etcd)', () => {
  const KEY = '/config/users/limits';
  let etcd: EtcdServer;
  let client: Etcd3;
  let config: ConfigWatch<Limits>;
  const changes: [ConfigSnapshot<Limits>, ConfigSnapshot<Limits> | undefined][] = [];
  const errors: Error[] = [];
  const watches: ConfigWatch<unknown>[] = [];

  const put = async (value: string) => Number((await client.put(KEY).value(value).exec()).header.revision);

  beforeAll(async () => {
    etcd = await startEtcd(bin);
    client = etcd.client();
  });
  afterAll(async () => {
    await Promise.all(watches.map((w) => w.close()));
    await etcd?.stop();
  });

  it('waits for the key, then reads it with its revision', async () => {
    config = watchConfig({
      client,
      key: KEY,
      parse: parseLimits,
      onChange: (current, previous) => changes.push([current, previous]),
      onError: (error) => errors.push(error),
      retryInitialMs: 100,
      retryMaxMs: 1000,
    });
    watches.push(config);
    expect(config.current()).toBeUndefined();
    const revision = await put(JSON.stringify({ rps: 10, burst: 20 }));
    const first = await config.ready;
    expect(first).toEqual({ value: { rps: 10, burst: 20 }, revision });
    expect(config.current()).toEqual(first);
    expect(changes).toEqual([[first, undefined]]);
  });

  it('applies a change as it is written, with the new revision', async () => {
    const revision = await put(JSON.stringify({ rps: 50, burst: 100 }));
    await waitUntil('the new value', async () => config.current()?.revision === revision, 3000);
    expect(config.current()?.value).toEqual({ rps: 50, burst: 100 });
    expect(changes.at(-1)?.[1]?.value).toEqual({ rps: 10, burst: 20 });
  });

  it.each([
    ['a document parse() refuses', JSON.stringify({ rps: -1, burst: 1 }), /rps must be a positive number/],
    ['a document that is not JSON', '{ rps: 5', /refused the document/],
  ])('refuses %s and keeps the previous value', async (_name, document, message) => {
    const before = config.current();
    errors.length = 0;
    const revision = await put(document);
    await waitUntil('the refusal', async () => errors.length > 0, 3000);
    const error = errors[0];
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect(error?.message).toMatch(message);
    expect(error?.message).toContain(`keeping revision ${before?.revision}`);
    expect((error as InvalidConfigError).revision).toBe(revision);
    expect(config.current()).toEqual(before);
  });

  it('keeps the value when the key is deleted, and takes the next valid write', async () => {
    const before = config.current();
    errors.length = 0;
    await client.delete().key(KEY).exec();
    await waitUntil('the deletion to be reported', async () => errors.length > 0, 3000);
    expect(errors[0]?.message).toMatch(/deleted/);
    expect(config.current()).toEqual(before);
    const revision = await put(JSON.stringify({ rps: 7, burst: 7 }));
    await waitUntil('the new value', async () => config.current()?.revision === revision, 3000);
  });

  it('keeps the value while etcd is down and follows writes after a restart', async () => {
    const before = config.current();
    errors.length = 0;
    await etcd.kill();
    // The watch noticed the outage (and kept going): the value must have survived it.
    await waitUntil('the watch to report the outage', async () => errors.length > 0, 10_000);
    expect(config.current()).toEqual(before);
    await etcd.start();
    // etcd3's per-host circuit breaker opened during the outage; it lets calls through again
    // after 5 s, so the write (and the watch's resync) may take a few retries.
    let revision = 0;
    await waitUntil(
      'a write after the restart',
      async () => {
        revision = await put(JSON.stringify({ rps: 99, burst: 99 }));
        return true;
      },
      10_000,
    );
    await waitUntil(
      'the value written after the restart',
      async () => config.current()?.revision === revision,
      10_000,
    );
    expect(config.current()?.value).toEqual({ rps: 99, burst: 99 });
    // Each revision was applied once: the resync after the restart did not replay the old one.
    const revisions = changes.map(([c]) => c.revision);
    expect(new Set(revisions).size).toBe(revisions.length);
  });

  it('reports a value already present at start without waiting for a write, and rejects ready on close', async () => {
    const other = watchConfig({ client, key: KEY, parse: parseLimits, onError: () => undefined });
    watches.push(other);
    expect((await other.ready).value).toEqual({ rps: 99, burst: 99 });
    const missing = watchConfig({
      client,
      key: '/config/missing',
      parse: parseLimits,
      onError: () => undefined,
    });
    await missing.close();
    await expect(missing.ready).rejects.toThrow(/closed before a valid value/);
  });

  it('logs a refused document with console.error by default', async () => {
    const logged: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => logged.push(args.join(' '));
    try {
      const watch = watchConfig({ client, key: KEY, parse: parseLimits });
      watches.push(watch);
      await watch.ready;
      await put(JSON.stringify({ rps: 1 }));
      await waitUntil('the log line', async () => logged.length > 0, 3000);
      expect(logged[0]).toMatch(
        /weft\/etcd: config \/config\/users\/limits: refused .*burst must be at least 1/,
      );
    } finally {
      console.error = original;
    }
  });

  it('takes every optional option given as undefined as its default', async () => {
    const key = '/config/undefined-options';
    await client.put(key).value('{"rps":3,"burst":4}');
    const options = Object.fromEntries(Object.keys(WATCH_CONFIG_DEFAULTS).map((k) => [k, undefined]));
    const watch = watchConfig({ ...options, client, key, parse: parseLimits });
    try {
      expect((await watch.ready).value).toEqual({ rps: 3, burst: 4 });
    } finally {
      await watch.close();
    }
  });

  it('refuses a missing parse at setup with an OptionError', () => {
    expect(() => watchConfig({ client, key: KEY, parse: undefined as never })).toThrow(
      /watchConfig: option "parse" is required/,
    );
  });
});
