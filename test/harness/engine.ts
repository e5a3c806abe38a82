import { readFileSync } from 'node:fs';
import { dockerAnswers } from './docker-ping.ts';
import { pidAlive } from './host-processes.ts';
import { spawnDetached } from './spawn-detached.ts';
import { waitFor } from './wait.ts';

/** What a host's dockerd is started with; kept so the engine can be restarted the same way. */
export interface EngineConfig {
  dockerd: string;
  /** Nsenter prefix into the host (holder's namespaces). */
  enter: readonly string[];
  cgroupParent: string;
  files: { dockerData: string; dockerdPid: string; dockerdLog: string; dockerSocket: string };
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Our own dockerd per host: no default bridge, no iptables, cgroups under a per-host parent, a
 *  second socket on the real filesystem for the root ns. */
export function startEngine(c: EngineConfig): void {
  const f = c.files;
  spawnDetached('nsenter', [...c.enter, c.dockerd,
    `--data-root=${f.dockerData}`,
    '--exec-root=/run/docker',
    `--pidfile=${f.dockerdPid}`,
    '-H', `unix://${f.dockerSocket}`, '-H', 'unix:///run/docker.sock',
    '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-masq=false',
    '--userland-proxy=false',
    `--cgroup-parent=${c.cgroupParent}`,
    '--storage-driver=overlay2',
  ], f.dockerdLog);
}

export async function waitEngine(c: EngineConfig, what: string, timeoutMs: number): Promise<void> {
  await waitFor(() => dockerAnswers(c.files.dockerSocket), { timeoutMs, intervalMs: 50, what })
    .catch((err: Error) => {
      throw new Error(`${err.message}\n--- ${c.files.dockerdLog}\n${tail(c.files.dockerdLog, 30)}`);
    });
}

export function enginePid(c: EngineConfig): number | undefined {
  try {
    const s = readFileSync(c.files.dockerdPid, 'utf8').trim();
    return /^\d+$/.test(s) ? Number(s) : undefined;
  } catch {
    return undefined;
  }
}

/** SIGTERM, as an init system would: dockerd stops its containers (each after its own stop
 *  timeout, 10 s unless `docker run --stop-timeout` said otherwise) and its containerd. */
export async function stopEngine(c: EngineConfig, what: string, timeoutMs = 30_000): Promise<void> {
  const pid = enginePid(c);
  if (pid === undefined || !pidAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  await waitFor(() => !pidAlive(pid), { timeoutMs, intervalMs: 50, what: `${what} to stop` });
}
