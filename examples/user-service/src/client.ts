/**
 * `npm run demo:client`: calls every UserService method on a running demo and checks its health.
 * ADDRESS (default 127.0.0.1:50051) says where.
 */
import { demoClientInterceptors } from './client-interceptors';
import { demoTarget, userClient } from './demo-client';
import { exercise } from './exercise';
import { checkHealth } from './health-client';

async function main() {
  const address = demoTarget();
  const client = userClient({ address, interceptors: demoClientInterceptors() });
  const steps = await exercise(client);
  for (const s of steps)
    process.stdout.write(`${s.ok ? 'ok  ' : 'FAIL'} ${s.method.padEnd(24)} ${s.detail}\n`);
  const health = await checkHealth(address);
  process.stdout.write(`health: ${health}\n`);
  client.close();
  process.exit(steps.every((s) => s.ok) && health === 'SERVING' ? 0 : 1);
}

main().catch((error) => {
  process.stderr.write(`demo client failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
