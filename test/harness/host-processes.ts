import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { sleepSync } from './wait.ts';

/** What makes a process part of a lab host. There is no PID namespace per host, so PIDs are
 *  global: a process belongs to host K when it shares K's netns or mount ns (dockerd, plugins,
 *  shims, the holder) or sits in K's cgroup (container processes, which have their own ns). */
export interface HostIdentity {
  /** `net:[inode]` of the host netns, when it still exists. */
  netns?: string;
  /** `mnt:[inode]` recorded from the holder when the host came up. */
  mntns?: string;
  cgroupName: string;
}

export function netnsIdentity(netnsName: string): string | undefined {
  try {
    return `net:[${statSync(`/run/netns/${netnsName}`).ino}]`;
  } catch {
    return undefined;
  }
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

function linkOr(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/PID/stat: lets an owner record survive PID reuse. */
export function processStartTime(pid: number): string | undefined {
  const stat = readOr(`/proc/${pid}/stat`, '');
  const afterComm = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return afterComm[19];
}

/** A zombie counts as dead: nothing of it is left to stop. */
export function pidAlive(pid: number): boolean {
  const stat = readOr(`/proc/${pid}/stat`, '');
  if (!stat) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

function inCgroup(pid: number, cgroupName: string): boolean {
  const top = `/${cgroupName}`;
  return readOr(`/proc/${pid}/cgroup`, '').split('\n').some((line) => {
    const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
    return path === top || path.startsWith(`${top}/`);
  });
}

export function findHostPids(host: HostIdentity): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const matches =
      (host.netns !== undefined && linkOr(`/proc/${pid}/ns/net`) === host.netns) ||
      (host.mntns !== undefined && linkOr(`/proc/${pid}/ns/mnt`) === host.mntns) ||
      inCgroup(pid, host.cgroupName);
    if (matches && pidAlive(pid)) found.push(pid);
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** TERM, wait up to graceMs for all of them, then KILL the rest and wait for them to go. */
export function stopPidsSync(pids: readonly number[], graceMs: number): void {
  for (const p of pids) signal(p, 'SIGTERM');
  const deadline = performance.now() + graceMs;
  while (pids.some(pidAlive) && performance.now() < deadline) sleepSync(50);
  const left = pids.filter(pidAlive);
  for (const p of left) signal(p, 'SIGKILL');
  const killDeadline = performance.now() + 5000;
  while (left.some(pidAlive) && performance.now() < killDeadline) sleepSync(20);
}
