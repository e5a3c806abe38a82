import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { LabHost } from './lab-host.ts';
import { waitFor } from './wait.ts';
import { parseWeaveStatus } from './weave-status.ts';
import type { WeaveStatus } from './weave-status.ts';

/** Inside a host; from the root ns the same socket is under the host's run dir. */
export const PLUGIN_SOCKET = '/run/docker/plugins/weave.sock';
export const DAEMON_LOG = 'weave.log';

export function pluginSocketFromRoot(h: LabHost): string {
  return join(h.files.run, 'docker', 'plugins', 'weave.sock');
}

/** `weave launch` prints the daemon PID on its last line (alone, or as "(pid N)" when one was
 *  already running); returns it. */
export async function launchWeave(h: LabHost, ...args: string[]): Promise<number> {
  const r = await h.weave('launch', ...args);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  const m = /(\d+)\)?\s*$/.exec(last);
  if (!m) throw new Error(`weave launch printed no PID:\n${r.stdout}\n${r.stderr}`);
  return Number(m[1]);
}

export async function weaveStatus(h: LabHost): Promise<WeaveStatus> {
  return parseWeaveStatus((await h.weave('status', '--json')).stdout);
}

/** A connection in the router part of `weave status --json` (Weave's field names). */
export interface RouterConnection {
  Address: string;
  Outbound: boolean;
  State: string;
  Info: string;
  /** The overlay's attributes: name (fastdp or sleeve), mtu, encrypted, and reason when not on fastdp. */
  Attrs?: { name?: string; reason?: string; mtu?: number; encrypted?: boolean };
}

export interface RouterPeer {
  Name: string;
  NickName: string;
  Connections: { Name: string; Established: boolean }[];
}

export interface RouterStatus {
  Name: string;
  Peers: RouterPeer[];
  Connections: RouterConnection[];
}

/** The distributed IPAM ring in `weave status --json` (Weave's field names). */
export interface IpamRing {
  Status: string;
  Name: string;
  Seeds: string[];
  RangeNumIPs: number;
  ActiveIPs: number;
  Entries: { Token: string; Size: number; Peer: string; Nickname: string }[];
  Reclaiming: string[];
  Conflicts: string[];
}

interface RawStatus {
  pid: number;
  router?: RouterStatus;
  ipam: { ring?: IpamRing };
}

/** `weave status --json` read as is: the router and the ring lie outside the contract that
 *  weaveStatus checks. */
async function rawStatus(h: LabHost): Promise<RawStatus> {
  return JSON.parse((await h.weave('status', '--json')).stdout) as RawStatus;
}

export async function daemonPid(h: LabHost): Promise<number> {
  return (await rawStatus(h)).pid;
}

export async function routerStatus(h: LabHost): Promise<RouterStatus> {
  const st = await rawStatus(h);
  if (!st.router) throw new Error(`no router in status of ${h.name}`);
  return st.router;
}

export function establishedConnections(r: RouterStatus): RouterConnection[] {
  return r.Connections.filter((c) => c.State === 'established');
}

export async function ipamRing(h: LabHost): Promise<IpamRing> {
  const st = await rawStatus(h);
  if (!st.ipam.ring) throw new Error(`no distributed IPAM in status of ${h.name}`);
  return st.ipam.ring;
}

/** Names of our host-side veths (vethwl*) in the host netns. */
export async function hostVeths(h: LabHost): Promise<string[]> {
  const out = (await h.exec('ip', ['-o', 'link', 'show'])).stdout;
  return out.split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n.startsWith('vethwl'))
    .sort();
}

export interface LinkInfo { name: string; mtu: number; master?: string; up: boolean }

export async function linkInfo(h: LabHost, name: string): Promise<LinkInfo> {
  const raw = JSON.parse((await h.exec('ip', ['-j', 'link', 'show', 'dev', name])).stdout) as
    { ifname: string; mtu: number; master?: string; operstate?: string; flags?: string[] }[];
  const l = raw[0];
  if (!l) throw new Error(`no link ${name} in ${h.name}`);
  return { name: l.ifname, mtu: l.mtu, master: l.master, up: (l.flags ?? []).includes('UP') };
}

/** Contents of the daemon's state files (the data dir minus its log), read from the root ns. */
export function stateFiles(h: LabHost): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && e !== DAEMON_LOG) files.set(relative(h.files.weaveData, p), readFileSync(p, 'utf8'));
    }
  };
  walk(h.files.weaveData);
  return files;
}

export function daemonLogTail(h: LabHost, lines = 40): string {
  try {
    return readFileSync(join(h.files.weaveData, DAEMON_LOG), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no daemon log)';
  }
}

export interface ContainerEndpoint {
  network: string;
  NetworkID: string;
  EndpointID: string;
  IPAddress: string;
  IPPrefixLen: number;
  Gateway: string;
  MacAddress: string;
}

export async function containerEndpoints(h: LabHost, container: string): Promise<ContainerEndpoint[]> {
  const raw = JSON.parse((await h.docker('inspect', '-f', '{{json .NetworkSettings.Networks}}', container)).stdout) as
    Record<string, Omit<ContainerEndpoint, 'network'>>;
  return Object.entries(raw).map(([network, ep]) => ({ network, ...ep }));
}

export async function containerEndpoint(h: LabHost, container: string, network: string): Promise<ContainerEndpoint> {
  const ep = (await containerEndpoints(h, container)).find((e) => e.network === network);
  if (!ep) throw new Error(`${container} is not on network ${network}`);
  return ep;
}

export interface DockerNetworkInfo { Id: string; Name: string; Driver: string; IPAM: { Driver: string; Config: { Subnet?: string; Gateway?: string }[] } }

export async function dockerNetwork(h: LabHost, name: string): Promise<DockerNetworkInfo> {
  const raw = JSON.parse((await h.docker('network', 'inspect', name)).stdout) as DockerNetworkInfo[];
  if (!raw[0]) throw new Error(`docker network inspect ${name}: empty`);
  return raw[0];
}

export async function dockerNetworkNames(h: LabHost): Promise<string[]> {
  return (await h.docker('network', 'ls', '--format', '{{.Name}}')).stdout.split('\n').filter(Boolean);
}

export async function waitForDockerNetwork(h: LabHost, name: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => (await dockerNetworkNames(h)).includes(name), { timeoutMs, intervalMs: 200, what: `docker network ${name} in ${h.name}` });
}

/** Pings from inside a container; true when an answer came back. */
export async function pingFrom(h: LabHost, container: string, ip: string, count = 1): Promise<boolean> {
  const r = await h.tryDocker(['exec', container, 'ping', '-c', String(count), '-W', '2', ip], { timeoutMs: 15_000 });
  return r.code === 0 && new RegExp(`${count} packets received`).test(r.stdout);
}

/** Watches weaveDNS on host `h` (its API, every 10 ms, from inside the host) until `name` does
 *  (`present`) or does not (`absent`) have `ip` ('*': any address). `ready` resolves once it is polling, so the
 *  caller can act after; `at` resolves to the wall-clock time (ms) the condition was first seen,
 *  which the caller compares with Date.now() when its own action returned. */
export async function pollDnsName(h: LabHost, name: string, ip: string, want: 'present' | 'absent', timeoutMs = 10_000): Promise<{ at: Promise<number> }> {
  const tag = `poll-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const script = `
const http = require('node:http');
const fs = require('node:fs');
const agent = new http.Agent({ keepAlive: true });
const deadline = Date.now() + ${timeoutMs};
let first = true;
const once = () => http.get({ host: '127.0.0.1', port: 6784, path: '/dns/lookup/${encodeURIComponent(name)}', agent }, (r) => {
  let b = ''; r.on('data', (c) => (b += c));
  r.on('end', () => {
    if (first) { first = false; fs.writeFileSync('/var/lib/weave/${tag}.ready', ''); }
    const lines = b.split('\\n').filter((l) => l !== '');
    const has = ${JSON.stringify(ip)} === '*' ? lines.length > 0 : lines.includes(${JSON.stringify(ip)});
    if (has === ${want === 'present'}) { process.stdout.write(String(Date.now())); agent.destroy(); return; }
    if (Date.now() > deadline) { process.stderr.write('condition not met in time'); process.exit(1); }
    setTimeout(once, 10);
  });
}).on('error', (e) => { process.stderr.write(String(e)); process.exit(1); });
once();`;
  const run = h.exec(process.execPath, ['-e', script], { timeoutMs: timeoutMs + 10_000 });
  const readyFile = join(h.files.weaveData, `${tag}.ready`);
  await waitFor(() => existsSync(readyFile) || undefined, { timeoutMs: 15_000, intervalMs: 10, what: `DNS poller on ${h.name}` });
  return { at: run.then((r) => Number(r.stdout.trim())) };
}
