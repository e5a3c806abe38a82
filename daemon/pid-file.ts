import { readFile, unlink } from 'node:fs/promises';
import { writeFileAtomic } from '../common/atomic-file.ts';

export class AlreadyRunningError extends Error {
  constructor(readonly pid: number) {
    super(`weave is already running (pid ${pid})`);
    this.name = 'AlreadyRunningError';
  }
}

async function readPid(path: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(path, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Is `pid` alive and one of our daemons? A stale file after a crash or reboot can name a PID
 *  that now belongs to something else, so the command line is checked too. */
export async function isWeaveDaemon(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return cmdline.some((a) => /weave|cli[/\\]main\.[tj]s$/.test(a)) && cmdline.includes('daemon');
  } catch {
    return false;
  }
}

/** One daemon per data dir: its state files are not safe for two writers. */
export class PidFile {
  private held = false;

  constructor(readonly path: string) {}

  async acquire(): Promise<void> {
    const pid = await readPid(this.path);
    if (pid !== undefined && pid !== process.pid && (await isWeaveDaemon(pid))) throw new AlreadyRunningError(pid);
    await writeFileAtomic(this.path, `${process.pid}\n`);
    this.held = true;
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    if ((await readPid(this.path)) === process.pid) await unlink(this.path).catch(() => undefined);
  }

  /** The running daemon's PID, if any (for `weave stop` when the status API does not answer). */
  static async running(path: string): Promise<number | undefined> {
    const pid = await readPid(path);
    return pid !== undefined && (await isWeaveDaemon(pid)) ? pid : undefined;
  }
}
