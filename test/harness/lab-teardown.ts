import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { findHostPids, netnsIdentity, pidAlive, stopPidsSync } from './host-processes.ts';
import type { LabLayout } from './lab-layout.ts';
import { runCommandSync } from './run-command.ts';
import { sleepSync } from './wait.ts';

const CGROUP_ROOT = '/sys/fs/cgroup';

function readTrim(path: string): string | undefined {
  try {
    const s = readFileSync(path, 'utf8').trim();
    return s || undefined;
  } catch {
    return undefined;
  }
}

function readPid(path: string): number | undefined {
  const s = readTrim(path);
  return s && /^\d+$/.test(s) ? Number(s) : undefined;
}

function netnsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`);
}

/** Host numbers known from state dirs and from namespaces (an `up` may have died between the
 *  two). Only names of this lab's id are considered. */
function hostNumbers(layout: LabLayout): number[] {
  const ks = new Set<number>();
  const dirEntries = existsSync(layout.dir) ? readdirSync(layout.dir) : [];
  for (const e of dirEntries) {
    const m = /^h(\d+)$/.exec(e);
    if (m) ks.add(Number(m[1]));
  }
  const prefix = `wv-${layout.id}-h`;
  for (const e of existsSync('/run/netns') ? readdirSync('/run/netns') : []) {
    if (e.startsWith(prefix) && /^\d+$/.test(e.slice(prefix.length))) ks.add(Number(e.slice(prefix.length)));
  }
  return [...ks].sort((a, b) => a - b);
}

function removeCgroupTree(dir: string, problems: string[]): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return;
  }
  for (const e of entries) removeCgroupTree(join(dir, e), problems);
  try {
    rmdirSync(dir);
  } catch (err) {
    problems.push(`cannot remove cgroup ${dir}: ${(err as Error).message}`);
  }
}

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function mountsUnder(dir: string): string[] {
  const text = readTrim('/proc/self/mountinfo') ?? '';
  return text.split('\n')
    .map((l) => unescapeMountPath(l.split(' ')[4] ?? ''))
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Engine first (so it does not spend its 10 s stop timeout per container whose PID 1 ignores
 *  SIGTERM), then every other process of the host. */
function stopEngines(layout: LabLayout, ks: readonly number[]): void {
  const engines: number[] = [];
  for (const k of ks) {
    const f = layout.hostFiles(k);
    const pid = readPid(f.dockerdPid);
    if (pid === undefined || !pidAlive(pid)) continue;
    // the pid file may be stale and its number reused by an unrelated process
    if (!readTrim(`/proc/${pid}/cmdline`)?.includes('dockerd')) continue;
    if (existsSync(f.dockerSocket)) {
      const host = ['-H', `unix://${f.dockerSocket}`];
      const ids = runCommandSync('docker', [...host, 'ps', '-q'], { allowFail: true, timeoutMs: 10_000 }).stdout.split('\n').filter(Boolean);
      if (ids.length) runCommandSync('docker', [...host, 'kill', ...ids], { allowFail: true, timeoutMs: 20_000 });
    }
    engines.push(pid);
  }
  stopPidsSync(engines, 15_000);
}

/** Removes everything a lab made, from what its marker directory and the namespace names say.
 *  Synchronous so it can run in a process 'exit' handler; tolerant of a half-made lab. Returns
 *  what could not be cleaned (empty when all went). */
export function teardownLabSync(layout: LabLayout): string[] {
  const problems: string[] = [];
  const ks = hostNumbers(layout);
  stopEngines(layout, ks);

  for (const k of ks) {
    const f = layout.hostFiles(k);
    const identity = {
      netns: netnsIdentity(layout.hostNetns(k)),
      mntns: readTrim(f.mntns),
      cgroupName: layout.cgroupName(k),
    };
    // processes can still be spawned while we kill (shims, restart loops): a few rounds
    for (let round = 0; round < 4; round++) {
      const pids = findHostPids(identity);
      if (!pids.length) break;
      stopPidsSync(pids, round === 0 ? 3000 : 500);
    }
    const left = findHostPids(identity);
    if (left.length) problems.push(`host${k}: processes still alive: ${left.join(' ')}`);

    if (netnsExists(layout.hostNetns(k))) {
      const r = runCommandSync('ip', ['netns', 'del', layout.hostNetns(k)], { allowFail: true });
      if (r.code !== 0) problems.push(`cannot delete netns ${layout.hostNetns(k)}: ${r.stderr.trim()}`);
    }
    let controllers: string[] = [];
    try {
      controllers = readdirSync(CGROUP_ROOT);
    } catch {
      // no cgroup fs mounted: nothing to clean
    }
    for (const c of controllers) {
      const dir = join(CGROUP_ROOT, c, layout.cgroupName(k));
      if (existsSync(dir) && statSync(dir).isDirectory()) removeCgroupTree(dir, problems);
    }
  }

  if (netnsExists(layout.wireNetns)) {
    // servers a test started on the wire (the lab's upstream DNS)
    const wire = { netns: netnsIdentity(layout.wireNetns), cgroupName: `${layout.cgroupName(1)}-wire-has-no-cgroup` };
    stopPidsSync(findHostPids(wire), 3000);
    const wireLeft = findHostPids(wire);
    if (wireLeft.length) problems.push(`wire: processes still alive: ${wireLeft.join(' ')}`);
    const r = runCommandSync('ip', ['netns', 'del', layout.wireNetns], { allowFail: true });
    if (r.code !== 0) problems.push(`cannot delete netns ${layout.wireNetns}: ${r.stderr.trim()}`);
  }
  for (const m of mountsUnder(layout.dir)) runCommandSync('umount', ['-l', m], { allowFail: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      rmSync(layout.dir, { recursive: true, force: true });
      break;
    } catch (err) {
      if (attempt === 2) problems.push(`cannot remove ${layout.dir}: ${(err as Error).message}`);
      else sleepSync(200);
    }
  }
  return problems;
}
