/**
 * Every @weft/resilience factory called with every option explicitly `undefined` behaves as if the
 * option were left out: `undefined` means "the default", never "no value" (issue 16, item 3). The
 * option objects are built from each DEFAULTS constant's keys, so a new option is covered the day
 * it is added; required options (no default) get a value.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, serverStream, startHarness, unary } from '../../../test/harness';
import {
  ADAPTIVE_CONCURRENCY_DEFAULTS,
  adaptiveConcurrency,
  CIRCUIT_BREAKER_DEFAULTS,
  CLIENT_DEADLINE_DEFAULTS,
  CLIENT_THROTTLE_DEFAULTS,
  CONCURRENCY_LIMIT_DEFAULTS,
  circuitBreaker,
  clientDeadline,
  clientThrottle,
  concurrencyLimit,
  DEADLINE_DEFAULTS,
  deadline,
  GRADIENT2_DEFAULTS,
  LATENCY_TIMEOUT_DEFAULTS,
  MEMORY_STORE_DEFAULTS,
  memoryStore,
  RATE_LIMIT_DEFAULTS,
  RATE_LIMIT_RULE_DEFAULTS,
  RETRY_DEFAULTS,
  RETRY_POLICY_DEFAULTS,
  RETRY_THROTTLING_DEFAULTS,
  rateLimit,
  retry,
  SERVER_DEADLINE_DEFAULTS,
  serverDeadline,
} from '../src/index';

/** `{ option: undefined }` for every option that `defaults` lists. */
function allUndefined<D extends object>(defaults: D): { [K in keyof D]: undefined } {
  return Object.fromEntries(Object.keys(defaults).map((key) => [key, undefined])) as {
    [K in keyof D]: undefined;
  };
}

const rule = () => ({
  ...allUndefined(RATE_LIMIT_RULE_DEFAULTS),
  name: 'all',
  rate: 1000,
  store: memoryStore(allUndefined(MEMORY_STORE_DEFAULTS)),
});

const cases: [
  string,
  Pick<Parameters<typeof startHarness>[0] & object, 'serverInterceptors' | 'clientInterceptors'>,
][] = [
  ['retry', { clientInterceptors: [retry(allUndefined(RETRY_DEFAULTS))] }],
  [
    'retry with undefined throttling and method policy fields',
    {
      clientInterceptors: [
        retry({
          ...allUndefined(RETRY_DEFAULTS),
          throttling: allUndefined(RETRY_THROTTLING_DEFAULTS),
          methods: { '*': allUndefined(RETRY_POLICY_DEFAULTS) },
        }),
      ],
    },
  ],
  ['circuitBreaker', { clientInterceptors: [circuitBreaker(allUndefined(CIRCUIT_BREAKER_DEFAULTS))] }],
  ['clientThrottle', { clientInterceptors: [clientThrottle(allUndefined(CLIENT_THROTTLE_DEFAULTS))] }],
  ['clientDeadline', { clientInterceptors: [clientDeadline(allUndefined(CLIENT_DEADLINE_DEFAULTS))] }],
  [
    'clientDeadline with undefined fromLatency fields',
    {
      clientInterceptors: [
        clientDeadline({
          ...allUndefined(CLIENT_DEADLINE_DEFAULTS),
          fromLatency: allUndefined(LATENCY_TIMEOUT_DEFAULTS),
        }),
      ],
    },
  ],
  ['serverDeadline', { serverInterceptors: [serverDeadline(allUndefined(SERVER_DEADLINE_DEFAULTS))] }],
  [
    'deadline',
    (() => {
      const both = deadline(allUndefined(DEADLINE_DEFAULTS));
      const halves = deadline({
        server: allUndefined(SERVER_DEADLINE_DEFAULTS),
        client: allUndefined(CLIENT_DEADLINE_DEFAULTS),
      });
      return {
        serverInterceptors: [both.server, halves.server],
        clientInterceptors: [both.client, halves.client],
      };
    })(),
  ],
  [
    'rateLimit',
    { serverInterceptors: [rateLimit({ ...allUndefined(RATE_LIMIT_DEFAULTS), rules: [rule()] })] },
  ],
  [
    'rateLimit keyed on subject',
    {
      serverInterceptors: [
        rateLimit({ ...allUndefined(RATE_LIMIT_DEFAULTS), rules: [{ ...rule(), key: 'subject' }] }),
      ],
    },
  ],
  [
    'concurrencyLimit',
    { serverInterceptors: [concurrencyLimit({ ...allUndefined(CONCURRENCY_LIMIT_DEFAULTS), max: 1 })] },
  ],
  [
    'concurrencyLimit({ max: 1, key: "subject", subject: undefined })',
    { serverInterceptors: [concurrencyLimit({ max: 1, key: 'subject', subject: undefined })] },
  ],
  [
    'adaptiveConcurrency',
    {
      serverInterceptors: [
        adaptiveConcurrency({
          ...allUndefined(ADAPTIVE_CONCURRENCY_DEFAULTS),
          gradient2: allUndefined(GRADIENT2_DEFAULTS),
        }),
      ],
    },
  ],
];

describe('resilience interceptors with every option explicitly undefined', () => {
  const started: Harness[] = [];
  afterEach(() => Promise.all(started.splice(0).map((h) => h.close())));

  it.each(cases)('%s: a unary and a server-streaming call succeed', async (_name, interceptors) => {
    const harness = await startHarness(interceptors);
    started.push(harness);
    const one = await unary(harness.client, { message: 'hi' });
    expect(one.status.code).toBe(grpc.status.OK);
    expect(one.responses.map((r) => r.message)).toEqual(['hi']);
    const many = await serverStream(harness.client, { message: 'hi', count: 2 });
    expect(many.status.code).toBe(grpc.status.OK);
    expect(many.responses).toHaveLength(2);
  });
});
