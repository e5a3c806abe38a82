// What the chaos suite checks after every round, read from the three places that must agree:
// Docker (containers and their endpoints), the kernel (our host-side veths) and the daemon
// (`GET /status` of its API, read with curl inside the host: a `weave status` per poll would cost
// a node start-up, too slow to time a fallback with).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabHost } from '../harness/lab-host.ts';
import { DAEMON_LOG, hostVeths } from '../harness/weave-probes.ts';
import type { RouterStatus } from '../harness/weave-probes.ts';
import { parseWeaveStatus } from '../harness/weave-status.ts';
import type { WeaveStatus } from '../harness/weave-status.ts';

/** The daemon's status over its API, from inside the host; undefined while it does not answer. */
export async function statusJson(h: LabHost): Promise<(WeaveStatus & { router?: RouterStatus }) | undefined> {
  const r = await h.exec('curl', ['-s', '-m', '10', 'http://127.0.0.1:6784/status'], { allowFail: true, timeoutMs: 20_000 });
  if (r.code !== 0 || r.stdout === '') return undefined;
  const raw = JSON.parse(r.stdout) as { router?: RouterStatus };
  return { ...parseWeaveStatus(r.stdout), ...(raw.router ? { router: raw.router } : {}) };
}

export interface DockerEndpoint {
  container: string;
  networkId: string;
  endpointId: string;
  ip: string;
}

export interface DockerView {
  /** IDs of the weave networks Docker has on this host. */
  networks: Set<string>;
  /** Endpoints of running containers on weave networks. */
  endpoints: DockerEndpoint[];
}

interface InspectedContainer {
  Name: string;
  State: { Running: boolean };
  NetworkSettings: { Networks: Record<string, { NetworkID: string; EndpointID: string; IPAddress: string }> };
}

export async function dockerView(h: LabHost): Promise<DockerView> {
  const networks = new Set((await h.docker('network', 'ls', '--filter', 'driver=weave', '-q', '--no-trunc')).stdout.split('\n').filter(Boolean));
  const ids = (await h.docker('ps', '-aq', '--no-trunc')).stdout.split('\n').filter(Boolean);
  const endpoints: DockerEndpoint[] = [];
  if (ids.length > 0) {
    // a container removed between ps and inspect makes inspect exit 1 but still print the rest
    const r = await h.tryDocker(['inspect', ...ids]);
    const all = JSON.parse(r.stdout || '[]') as InspectedContainer[];
    for (const c of all) {
      if (!c.State.Running) continue;
      for (const ep of Object.values(c.NetworkSettings.Networks)) {
        if (networks.has(ep.NetworkID)) endpoints.push({ container: c.Name.replace(/^\//, ''), networkId: ep.NetworkID, endpointId: ep.EndpointID, ip: ep.IPAddress });
      }
    }
  }
  return { networks, endpoints };
}

const ORPHAN_NOTICE = 'addresses allocated before the restart that nothing uses';

/** Addresses the daemon said it will release once its grace after a restart is over (a kill -9
 *  between storing an allocation and answering Docker leaves such an address behind; see
 *  plugin-server.ts). `sinceMs`: only notices logged after then count. */
export function pendingOrphans(h: LabHost, sinceMs: number): Set<string> {
  const out = new Set<string>();
  let text = '';
  try {
    text = readFileSync(join(h.files.weaveData, DAEMON_LOG), 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line.includes(ORPHAN_NOTICE)) continue;
    try {
      const rec = JSON.parse(line) as { timestamp?: string; addresses?: string[] };
      if (rec.timestamp !== undefined && Date.parse(rec.timestamp) >= sinceMs) for (const a of rec.addresses ?? []) out.add(a);
    } catch {
      // a line cut by the kill: not a notice
    }
  }
  return out;
}

export const vethOf = (endpointId: string): string => `vethwl${endpointId.slice(0, 9)}`;

export interface HostSnapshot {
  host: string;
  docker: DockerView;
  status: WeaveStatus;
  veths: string[];
}

export async function snapshot(h: LabHost): Promise<HostSnapshot> {
  const status = await statusJson(h);
  if (!status) throw new Error(`${h.name}: the status API does not answer`);
  return { host: h.name, docker: await dockerView(h), status, veths: await hostVeths(h) };
}

const addressesOf = (st: WeaveStatus): string[] => st.ipam.pools.flatMap((p) => p.addresses).map((a) => a.split('/')[0]!);

/** Everything that disagrees, one line each; [] when all is well. `allowedOrphans` per host:
 *  addresses the daemon announced it will release after its grace. */
export function violations(snaps: HostSnapshot[], allowedOrphans: Map<string, Set<string>> = new Map()): string[] {
  const out: string[] = [];
  const owner = new Map<string, string>();
  const holder = new Map<string, string>();
  for (const s of snaps) {
    const { docker, status } = s;
    // the kernel: one veth per running endpoint, none without one
    const want = new Set(docker.endpoints.map((e) => vethOf(e.endpointId)));
    for (const v of s.veths) if (!want.has(v)) out.push(`${s.host}: orphan veth ${v}`);
    for (const e of docker.endpoints) if (!s.veths.includes(vethOf(e.endpointId))) out.push(`${s.host}: ${e.container} has no veth ${vethOf(e.endpointId)}`);
    // the daemon's records: Docker's networks and, per network, its endpoint count
    const ours = new Map(status.plugin.networks.map((n) => [n.id, n.endpoints]));
    for (const id of docker.networks) if (!ours.has(id)) out.push(`${s.host}: Docker's network ${id.slice(0, 12)} unknown to weave status`);
    for (const [id, n] of ours) {
      if (!docker.networks.has(id)) {
        out.push(`${s.host}: weave status has network ${id.slice(0, 12)} that Docker has not`);
        continue;
      }
      const dn = docker.endpoints.filter((e) => e.networkId === id).length;
      if (dn !== n) out.push(`${s.host}: network ${id.slice(0, 12)}: Docker has ${dn} running endpoint(s), weave status ${n}`);
    }
    if (status.plugin.endpoints !== docker.endpoints.length) out.push(`${s.host}: ${docker.endpoints.length} running endpoint(s) in Docker, ${status.plugin.endpoints} in weave status`);
    // addresses: what IPAM holds is exactly what the endpoints use, give or take announced orphans
    const held = addressesOf(status);
    const used = new Set(docker.endpoints.map((e) => e.ip));
    const allowed = allowedOrphans.get(s.host) ?? new Set<string>();
    for (const a of held) if (!used.has(a) && !allowed.has(a)) out.push(`${s.host}: address ${a} allocated but used by no endpoint (leak)`);
    for (const e of docker.endpoints) if (!held.includes(e.ip)) out.push(`${s.host}: ${e.container}'s address ${e.ip} not allocated in IPAM`);
    for (const a of held) {
      const prev = holder.get(a);
      if (prev !== undefined) out.push(`address ${a} allocated on ${prev} and on ${s.host}`);
      else holder.set(a, s.host);
    }
    // across hosts: no address twice
    for (const e of docker.endpoints) {
      const where = `${s.host}/${e.container}`;
      const prev = owner.get(e.ip);
      if (prev !== undefined) out.push(`duplicate address ${e.ip}: ${prev} and ${where}`);
      else owner.set(e.ip, where);
    }
  }
  return out;
}
