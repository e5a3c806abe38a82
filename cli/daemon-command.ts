import { createRootLogger, componentLogger } from '../common/logger.ts';
import { configFromEnv, resolveConfig } from '../daemon/config.ts';
import { Daemon } from '../daemon/daemon.ts';
import { assembleParts } from '../daemon/assemble.ts';
import { AlreadyRunningError } from '../daemon/pid-file.ts';
import { flagsToConfig, type DaemonFlags } from './options.ts';

/** `weave daemon`: run every service in this process until SIGTERM/SIGINT. */
export async function runDaemon(flags: DaemonFlags, peers: string[] = []): Promise<number> {
  const config = resolveConfig(configFromEnv(process.env), flagsToConfig(flags, peers));
  const root = createRootLogger({ level: config.logLevel });
  const log = componentLogger(root, 'main');
  // A bug in one request must not take the network control plane down with it; the state on
  // disk is written atomically, so logging and carrying on is safe for rejected promises.
  process.on('unhandledRejection', (reason) => {
    log.error('unhandled rejection', { error: reason instanceof Error ? reason.stack : String(reason) });
  });
  const daemon = new Daemon(config, assembleParts(config, root), root);
  try {
    await daemon.start();
  } catch (err) {
    if (err instanceof AlreadyRunningError) {
      log.error(err.message);
      return 1;
    }
    log.error('daemon failed to start', { error: err instanceof Error ? err.stack : String(err) });
    return 1;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      log.info('stopping', { signal: sig });
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await daemon.stop();
  log.info('stopped');
  return 0;
}
