/** `npm run demo`: the user service with every weft interceptor on. Settings: see config.ts / README. */
import pino from 'pino';
import { loadConfig } from './config';
import { startDemo } from './demo-server';
import { startTelemetry } from './telemetry';

async function main() {
  const config = loadConfig();
  const logger = pino({ level: config.logLevel });
  const telemetry = startTelemetry();
  logger.info({ exporter: telemetry.exporter }, 'tracing on');
  const demo = await startDemo(config, logger);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'shutting down: draining in-flight calls');
      demo.shutdown().then(async () => {
        await telemetry.shutdown();
        logger.info('stopped');
        process.exit(0);
      });
    });
  }
}

main().catch((error) => {
  process.stderr.write(
    `user service failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
