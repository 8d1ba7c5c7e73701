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
  // Handlers go in before the server starts: a signal during startup (or right after the
  // "listening" line) must drain too, not find no listener and kill the process.
  const started = startDemo(config, logger);
  // Listen for good (`on`, not `once`): a signal can arrive more than once. Sent to the whole
  // process group (systemd's KillMode=control-group, `kill -TERM -PGID`, Ctrl-C in a terminal),
  // it reaches this process directly and again through npm, which forwards it to its script. With
  // no listener left, that second copy would kill the process mid-drain. For the same reason a
  // repeat cannot mean "force": one Ctrl-C under npm already arrives twice. The drain is bounded
  // by SHUTDOWN_GRACE_SECONDS; SIGKILL is the way to stop at once.
  let draining = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (draining) {
      logger.info(
        { signal },
        'already draining: repeated signal ignored (SHUTDOWN_GRACE_SECONDS bounds the drain)',
      );
      return;
    }
    draining = true;
    logger.info(
      { signal, graceSeconds: config.shutdownGraceSeconds },
      'shutting down: draining in-flight calls',
    );
    started
      .then((demo) => demo.shutdown())
      // Spans that cannot be flushed are lost, but the calls were drained: still a clean stop.
      .then(() =>
        telemetry.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'span flush failed')),
      )
      .then(
        () => {
          logger.info('stopped');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await started;
}

main().catch((error) => {
  process.stderr.write(
    `user service failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
