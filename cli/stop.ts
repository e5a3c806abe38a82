import { join } from 'node:path';
import { configFromEnv, resolveConfig } from '../daemon/config.ts';
import { PidFile, isWeaveDaemon } from '../daemon/pid-file.ts';
import { flagsToConfig, type DaemonFlags } from './options.ts';
import { getJson } from './status-client.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

/** Stop the daemon by PID (asked from the status API, or read from the PID file when the API is
 *  wedged). Containers keep their links; only the control plane goes away. */
export async function stop(flags: DaemonFlags): Promise<number> {
  const config = resolveConfig(configFromEnv(process.env), flagsToConfig(flags));
  let pid: number | undefined;
  try {
    pid = ((await getJson(config.statusAddr, '/status', 2000)) as { pid?: number }).pid;
  } catch {
    pid = await PidFile.running(join(config.dataDir, 'weave.pid'));
  }
  if (pid === undefined) {
    console.log('weave is not running');
    return 0;
  }
  // A daemon in a managed plugin or a container reports its PID in its own PID namespace (often
  // 1): here that number is some other process, the host's init at worst. Never signal it.
  if (!(await isWeaveDaemon(pid))) {
    console.error(`weave answers, but pid ${pid} is not a weave daemon in this PID namespace: it runs in a managed plugin ` +
      '(docker plugin disable -f weave:latest) or a container (docker stop weave)');
    return 1;
  }
  process.kill(pid, 'SIGTERM');
  if (!(await waitGone(pid, 15_000))) {
    console.error(`weave (pid ${pid}) did not stop within 15 s; killing it`);
    process.kill(pid, 'SIGKILL');
    await waitGone(pid, 5000);
  }
  return 0;
}
