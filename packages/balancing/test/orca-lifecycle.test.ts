/**
 * The ORCA service's lifecycle: a load balancer keeps its subscription open for as long as its
 * channel lives, so `load.close()` must end the open streams (or `server.tryShutdown()` would wait
 * for them forever), with a status after which grpc-js's client subscribes again with backoff.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { testProto } from '../../../test/harness';
import { loadReporting, ORCA_SERVICE } from '../src/index';
import { bindLocal, type DecodedReport, Opened, orcaClient } from './orca';

const opened = new Opened();
afterEach(() => opened.closeAll());

/** A server with the ORCA service and the test service; counts the ORCA subscriptions it sees. */
async function orcaServer() {
  const load = opened.add(loadReporting());
  const subscriptions = { count: 0 };
  const countOrca: grpc.ServerInterceptor = (descriptor, call) => {
    if (descriptor.path === `/${ORCA_SERVICE}/StreamCoreMetrics`) subscriptions.count++;
    return new grpc.ServerInterceptingCall(call);
  };
  const server = opened.server(new grpc.Server({ interceptors: [countOrca, load] }));
  load.addToServer(server);
  server.addService(testProto().weft.test.TestService.service, {
    Unary: (_call: unknown, callback: grpc.sendUnaryData<{ message: string }>) =>
      callback(null, { message: 'ok' }),
  });
  return { server, load, address: await bindLocal(server), subscriptions };
}

/** Subscribes like a load balancer; resolves once the first report arrived. */
async function subscribe(address: string) {
  const client = opened.add(orcaClient(address));
  const stream = client.StreamCoreMetrics({ report_interval: { seconds: 1, nanos: 0 } });
  const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
  stream.on('error', () => {}); // the status above is what the test reads
  const first = new Promise<DecodedReport | undefined>((resolve) => {
    stream.once('data', resolve);
    void ended.then(() => resolve(undefined));
  });
  return { stream, ended, first };
}

/** Rejects if `promise` has not settled within `ms`: a bound on "promptly", not a sleep. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('loadReporting().close() and the ORCA streams', () => {
  it('tryShutdown, then close(): the subscribed stream ends with UNAVAILABLE and the shutdown completes', async () => {
    const s = await orcaServer();
    const sub = await subscribe(s.address);
    expect(await sub.first).toBeDefined();
    const shutdown = new Promise<Error | undefined>((resolve) => s.server.tryShutdown(resolve));
    s.load.close();
    // Ended by the server with a status (not reset: a forced shutdown gives CANCELLED or a
    // connection error), and one grpc-js's ORCA client answers by subscribing again later.
    const status = await within(3000, 'the ORCA stream ending', sub.ended);
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.details).toBe('load reporting closed (server shutting down)');
    expect(await within(3000, 'tryShutdown completing', shutdown)).toBeUndefined();
  });

  it('close() first: a subscription that arrives later is answered UNAVAILABLE at once', async () => {
    const s = await orcaServer();
    s.load.close();
    const sub = await subscribe(s.address);
    expect(await sub.first).toBeUndefined(); // no report: a status straight away
    expect((await sub.ended).code).toBe(grpc.status.UNAVAILABLE);
    const shutdown = new Promise<Error | undefined>((resolve) => s.server.tryShutdown(resolve));
    expect(await within(3000, 'tryShutdown completing', shutdown)).toBeUndefined();
  });

  it('a weighted_round_robin channel subscribes again, with backoff, after its stream was ended', async () => {
    const s = await orcaServer();
    const client = new (testProto().weft.test.TestService)(s.address, grpc.credentials.createInsecure(), {
      'grpc.service_config': JSON.stringify({
        loadBalancingConfig: [
          { weighted_round_robin: { enable_oob_load_report: true, oob_load_reporting_period: '1s' } },
        ],
      }),
    });
    opened.add(client);
    await new Promise<void>((resolve, reject) =>
      client.Unary({ message: 'hi' }, (error) => (error ? reject(error) : resolve())),
    );
    await vi.waitFor(() => expect(s.subscriptions.count).toBe(1));
    s.load.close();
    // grpc-js's ORCA client (orca.ts) backs off (1 s, ±20%) and subscribes again on any status but
    // OK, CANCELLED and UNIMPLEMENTED; after an OK it would never subscribe again on that subchannel.
    await vi.waitFor(() => expect(s.subscriptions.count).toBeGreaterThanOrEqual(2), {
      timeout: 5000,
      interval: 50,
    });
  });
});
