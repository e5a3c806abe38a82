import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

function onPath(cmd: string): boolean {
  if (cmd.includes('/')) return canRun(cmd);
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && canRun(join(d, cmd)));
}

function canRun(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Fails up front with the whole list, instead of half a lab and an ENOENT from deep inside. */
export function requireTools(tools: readonly string[]): void {
  const missing = tools.filter((t) => !onPath(t));
  if (missing.length) {
    throw new Error(`the lab needs these programs, which are not installed or not on PATH: ${missing.join(', ')} ` +
      '(Debian: docker.io busybox-static iperf3 iproute2 util-linux tar debootstrap)');
  }
}
