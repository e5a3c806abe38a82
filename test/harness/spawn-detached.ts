import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

/** Starts a long-lived process in its own session with output appended to a log file, not tied
 *  to our lifetime; returns its PID. */
export function spawnDetached(cmd: string, args: readonly string[], logPath: string): number | undefined {
  const fd = openSync(logPath, 'a');
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] });
    child.on('error', () => undefined);
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}
