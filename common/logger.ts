import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type Logger = winston.Logger;

export interface LoggerOptions {
  level?: LogLevel;
  /** Extra fields on every line (e.g. the lab host a daemon runs in). */
  defaultMeta?: Record<string, unknown>;
  /** Silence output (unit tests). */
  silent?: boolean;
}

/** Root logger: JSON lines on stderr, so a managed plugin's output lands in dockerd's log and a
 *  detached daemon's in its log file. Components take children of it, never their own roots. */
export function createRootLogger(opts: LoggerOptions = {}): Logger {
  return winston.createLogger({
    level: opts.level ?? 'info',
    silent: opts.silent ?? false,
    defaultMeta: opts.defaultMeta ?? {},
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
}

export function componentLogger(root: Logger, component: string): Logger {
  return root.child({ component });
}

/** A logger that drops everything: for tests that do not assert on logs. */
export function silentLogger(): Logger {
  return createRootLogger({ silent: true });
}
