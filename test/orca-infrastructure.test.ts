/**
 * The ORCA load-report stream (@weft/balancing) behind weft's other server interceptors, with their
 * defaults: grpc-js's weighted_round_robin opens it on the subchannel, without the channel's
 * interceptors (so without a bearer token), and keeps it open as long as the channel lives. jwtAuth
 * must let it in, and serverDeadline must not cut it (nor gRPC health's Watch, the other
 * subscription every load balancer holds).
 */
import * as grpc from '@grpc/grpc-js';
import { bearerToken, jwtAuth } from '@weft/auth';
import { loadReporting, ORCA_SERVICE } from '@weft/balancing';
import { serverInterceptors } from '@weft/core';
import { serverDeadline } from '@weft/resilience';
import { HealthImplementation, service as healthService } from 'grpc-health-check';
import jwt from 'jsonwebtoken';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bindLocal, type DecodedReport, Opened, orcaClient } from '../packages/balancing/test/orca';
import { type TestServiceClient, testProto } from './harness';

const SECRET = 'orca-infrastructure-test-secret';
const ORCA_PATH = `/${ORCA_SERVICE}/StreamCoreMetrics`;

const opened = new Opened();
afterEach(() => opened.closeAll());

/** What the server sent on ORCA streams, seen from outside every other interceptor. */
function watchOrca() {
  const seen = { started: 0, reports: 0, statuses: [] as grpc.status[] };
  const interceptor: grpc.ServerInterceptor = (descriptor, call) => {
    if (descriptor.path !== ORCA_PATH) return new grpc.ServerInterceptingCall(call);
    seen.started++;
    return new grpc.ServerInterceptingCall(call, {
      sendMessage: (message, next) => {
        seen.reports++;
        next(message);
      },
      sendStatus: (status, next) => {
        seen.statuses.push(status.code);
        next(status);
      },
    });
  };
  return { seen, interceptor };
}

/** A server: `watch`, loadReporting outermost, then the preset; the ORCA, health and test services. */
async function start(preset: Parameters<typeof serverInterceptors>[0], watch: grpc.ServerInterceptor) {
  const load = opened.add(loadReporting());
  const s = opened.server(new grpc.Server({ interceptors: [watch, load, ...serverInterceptors(preset)] }));
  load.addToServer(s);
  const health = new HealthImplementation({ '': 'SERVING' });
  health.addToServer(s);
  s.addService(testProto().weft.test.TestService.service, {
    Unary: (_call: unknown, callback: grpc.sendUnaryData<{ message: string }>) =>
      callback(null, { message: 'ok' }),
    // Never ends on its own: a stream only a deadline or the client ends.
    ServerStream: () => {},
  });
  return { address: await bindLocal(s), health };
}

/** A raw ORCA subscription (no credentials, as grpc-js's balancer opens it): reports and status. */
function subscribe(address: string) {
  const client = opened.add(orcaClient(address));
  const stream = client.StreamCoreMetrics({ report_interval: { seconds: 1, nanos: 0 } });
  const reports: DecodedReport[] = [];
  const seen: { status?: grpc.StatusObject } = {};
  stream.on('data', (report: DecodedReport) => reports.push(report));
  stream.on('status', (s: grpc.StatusObject) => {
    seen.status = s;
  });
  stream.on('error', () => {}); // the status says it
  return { reports, seen };
}

const auth = () => jwtAuth({ keys: { secret: SECRET }, algorithms: ['HS256'] });
const token = () => jwt.sign({ sub: 'alice' }, SECRET, { algorithm: 'HS256', expiresIn: 300 });

describe('the ORCA stream behind jwtAuth with its defaults', () => {
  it('needs no token: a subscription without one gets reports, while the application needs one', async () => {
    const watch = watchOrca();
    const { address } = await start({ auth: auth() }, watch.interceptor);
    const orca = subscribe(address);
    await vi.waitFor(() => expect(orca.reports.length > 0 || orca.seen.status !== undefined).toBe(true));
    expect(orca.seen.status?.code).toBeUndefined(); // not UNAUTHENTICATED: open, reporting
    expect(orca.reports[0]).toMatchObject({ cpu_utilization: expect.any(Number) });
    // jwtAuth is on: the same call without a token is refused.
    const plain = new (testProto().weft.test.TestService)(address, grpc.credentials.createInsecure());
    opened.add(plain);
    const refused = await new Promise<grpc.ServiceError | null>((resolve) =>
      plain.Unary({ message: 'hi' }, (error) => resolve(error)),
    );
    expect(refused?.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('a weighted_round_robin channel with a bearer token gets its out-of-band reports', async () => {
    const watch = watchOrca();
    const { address } = await start({ auth: auth() }, watch.interceptor);
    const client: TestServiceClient = new (testProto().weft.test.TestService)(
      address,
      grpc.credentials.createInsecure(),
      {
        interceptors: [bearerToken(token())],
        'grpc.service_config': JSON.stringify({
          loadBalancingConfig: [{ weighted_round_robin: { enable_oob_load_report: true } }],
        }),
      },
    );
    opened.add(client);
    await new Promise<void>((resolve, reject) =>
      client.Unary({ message: 'hi' }, (error) => (error ? reject(error) : resolve())),
    );
    // grpc-js subscribes on the subchannel without the channel's interceptors: no token on it.
    await vi.waitFor(() => expect(watch.seen.reports + watch.seen.statuses.length).toBeGreaterThan(0));
    expect(watch.seen.statuses).toEqual([]);
    expect(watch.seen.reports).toBeGreaterThanOrEqual(1);
  });
});

describe('serverDeadline with its defaults and the long-lived infrastructure streams', () => {
  it('cuts an application stream at the default deadline, but neither the ORCA stream nor Health/Watch', async () => {
    const watch = watchOrca();
    const { address, health } = await start(
      { deadline: serverDeadline({ default: 100, max: 150 }) },
      watch.interceptor,
    );
    const orca = subscribe(address);
    const Health = grpc.makeClientConstructor(healthService, 'Health');
    const healthClient = new Health(address, grpc.credentials.createInsecure());
    opened.add(healthClient);
    const statuses: string[] = [];
    const watchStream = healthClient.makeServerStreamRequest(
      '/grpc.health.v1.Health/Watch',
      () => Buffer.alloc(0), // HealthCheckRequest { service: '' }: every field default
      (buffer: Buffer) => buffer,
      { service: '' },
    );
    let watchStatus: grpc.StatusObject | undefined;
    watchStream.on('data', (message: Buffer) => statuses.push(message.toString('hex')));
    watchStream.on('status', (s: grpc.StatusObject) => {
      watchStatus = s;
    });
    watchStream.on('error', () => {});
    // The control: an application stream without a deadline gets the default one and is cut.
    const app = new (testProto().weft.test.TestService)(address, grpc.credentials.createInsecure());
    opened.add(app);
    const appStream = app.ServerStream({ message: 'forever' });
    appStream.on('error', () => {});
    const appStatus = await new Promise<grpc.StatusObject>((resolve) => appStream.on('status', resolve));
    expect(appStatus.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // Past both deadlines: the ORCA stream sends its second report (1 s after the first) and the
    // Watch its next status, so both are still open.
    await vi.waitFor(() => expect(orca.reports.length >= 2 || orca.seen.status !== undefined).toBe(true), {
      timeout: 5000,
    });
    expect(orca.seen.status?.code).toBeUndefined();
    expect(orca.reports.length).toBeGreaterThanOrEqual(2);
    health.setStatus('', 'NOT_SERVING');
    await vi.waitFor(() => expect(statuses.length >= 2 || watchStatus !== undefined).toBe(true));
    expect(watchStatus?.code).toBeUndefined();
    // SERVING (field 1 = 1), then NOT_SERVING (field 1 = 2).
    expect(statuses).toEqual(['0801', '0802']);
  });
});
