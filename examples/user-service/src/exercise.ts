import * as grpc from '@grpc/grpc-js';
import { call } from './demo-client';
import type { ImportUsersResponse__Output } from './generated/weft/demo/v1/ImportUsersResponse';
import type { User__Output } from './generated/weft/demo/v1/User';
import type { UserServiceClient } from './generated/weft/demo/v1/UserService';

export interface Step {
  method: string;
  ok: boolean;
  detail: string;
}

function listUsers(client: UserServiceClient, metadata: grpc.Metadata): Promise<User__Output[]> {
  return new Promise((resolve, reject) => {
    const users: User__Output[] = [];
    const stream = client.ListUsers({ limit: 0 }, metadata);
    stream.on('data', (u: User__Output) => users.push(u));
    stream.on('error', reject);
    stream.on('end', () => resolve(users));
  });
}

function importUsers(client: UserServiceClient, metadata: grpc.Metadata, count: number) {
  return new Promise<ImportUsersResponse__Output>((resolve, reject) => {
    const stream = client.ImportUsers(metadata, (error, response) =>
      error ? reject(error) : resolve(response!),
    );
    const tag = Date.now().toString(36);
    for (let i = 0; i < count; i++)
      stream.write({ name: `Imported ${i}`, email: `import-${tag}-${i}@example.com` });
    stream.write({ name: '', email: 'not-an-email' });
    stream.end();
  });
}

/**
 * Calls every UserService method once, including the expected failures (NOT_FOUND after delete,
 * ALREADY_EXISTS on a duplicate), and reports each step.
 */
export async function exercise(
  client: UserServiceClient,
  metadata: () => grpc.Metadata = () => new grpc.Metadata(),
) {
  const steps: Step[] = [];
  const step = async (method: string, run: () => Promise<string>) => {
    try {
      steps.push({ method, ok: true, detail: await run() });
    } catch (error) {
      const e = error as grpc.ServiceError;
      steps.push({
        method,
        ok: false,
        detail: `${grpc.status[e.code] ?? e.code}: ${e.details ?? e.message}`,
      });
    }
  };
  const email = `dana-${Date.now().toString(36)}@example.com`;
  let id = '';
  await step('ListUsers', async () => `${(await listUsers(client, metadata())).length} users`);
  await step('CreateUser', async () => {
    const user = await call<object, User__Output>(
      client,
      'CreateUser',
      { name: 'Dana Scully', email },
      metadata(),
    );
    id = user.id;
    return `created ${user.id}`;
  });
  await step(
    'GetUser',
    async () => (await call<object, User__Output>(client, 'GetUser', { id }, metadata())).name,
  );
  await step('UpdateUser', async () => {
    const user = await call<object, User__Output>(
      client,
      'UpdateUser',
      { id, name: 'Dana K. Scully' },
      metadata(),
    );
    return user.name;
  });
  await step('ImportUsers', async () => {
    const summary = await importUsers(client, metadata(), 3);
    return `${summary.created} created, ${summary.failed} rejected`;
  });
  await step(
    'DeleteUser',
    async () =>
      `deleted: ${(await call<object, { deleted: boolean }>(client, 'DeleteUser', { id }, metadata())).deleted}`,
  );
  // Expected failures, to show the status codes.
  const expectCode = async (method: string, code: grpc.status, run: () => Promise<unknown>) =>
    step(method, async () => {
      try {
        await run();
      } catch (error) {
        if ((error as grpc.ServiceError).code === code) return `${grpc.status[code]} as expected`;
        throw error;
      }
      throw Object.assign(new Error(`expected ${grpc.status[code]}`), { code: grpc.status.UNKNOWN });
    });
  await expectCode('GetUser (deleted)', grpc.status.NOT_FOUND, () =>
    call(client, 'GetUser', { id }, metadata()),
  );
  await expectCode('CreateUser (duplicate)', grpc.status.ALREADY_EXISTS, () =>
    call(client, 'CreateUser', { name: 'Alice again', email: 'alice@example.com' }, metadata()),
  );
  await expectCode('CreateUser (invalid)', grpc.status.INVALID_ARGUMENT, () =>
    call(client, 'CreateUser', { name: '', email: 'nope' }, metadata()),
  );
  return steps;
}
