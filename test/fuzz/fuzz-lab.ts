// The lab the fuzz suite runs against: two hosts with our daemon, a real established connection
// between them, one container each on a weave network that pings the other; snapshots of what
// must not change (daemon PID, links, IPAM, plugin state, state files) and of RSS; and a way to
// run a surface's generator inside a lab namespace, so all its traffic stays in the lab.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { REPO_ROOT } from '../harness/repo-root.ts';
import { runCommand } from '../harness/run-command.ts';
import { waitFor } from '../harness/wait.ts';
import { daemonLogTail, daemonPid, establishedConnections, launchWeave, pingFrom, routerStatus, stateFiles, weaveStatus } from '../harness/weave-probes.ts';
import type { RunResult } from './run.ts';

const RUN_SCRIPT = join(REPO_ROOT, 'test', 'fuzz', 'run.ts');
const SUBNET = '10.40.0.0/16';

export interface Snapshot {
  pid: number;
  rssKiB: number;
  links: string[];
  pools: { poolId: string; subnet: string; addresses: string[] }[];
  plugin: { networks: string[]; endpoints: number };
  files: Record<string, string>;
}

export class FuzzLab {
  private constructor(
    readonly lab: Lab,
    readonly hosts: LabHost[],
    readonly containerIps: string[],
    readonly peerNames: string[],
  ) {}

  static async up(): Promise<FuzzLab> {
    const lab = await Lab.up({ hosts: 2 });
    try {
      const h = [lab.host(1), lab.host(2)];
      await launchWeave(h[0]!);
      await launchWeave(h[1]!, h[0]!.address);
      for (const x of h) {
        await waitFor(async () => establishedConnections(await routerStatus(x)).length > 0 || undefined, { timeoutMs: 60_000, intervalMs: 500, what: `an established connection on ${x.name}` });
      }
      const ips: string[] = [];
      for (const [k, x] of h.entries()) {
        await x.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', '--subnet', SUBNET, '--ip-range', `10.40.${k + 1}.0/24`, 'app');
        await x.docker('run', '-d', '--name', `c${k + 1}`, '--network', 'app', 'bb', 'sleep', '1d');
        ips.push((await x.docker('inspect', '-f', '{{.NetworkSettings.Networks.app.IPAddress}}', `c${k + 1}`)).stdout.trim());
      }
      const names = await Promise.all(h.map(async (x) => (await routerStatus(x)).Name));
      const f = new FuzzLab(lab, h, ips, names);
      await waitFor(async () => (await f.pingsBothWays()) || undefined, { timeoutMs: 60_000, intervalMs: 1000, what: 'containers pinging across hosts' });
      return f;
    } catch (err) {
      await lab.down().catch(() => undefined);
      throw err;
    }
  }

  host(k: number): LabHost {
    return this.hosts[k - 1]!;
  }

  async pingsBothWays(): Promise<boolean> {
    return (await pingFrom(this.host(1), 'c1', this.containerIps[1]!)) && (await pingFrom(this.host(2), 'c2', this.containerIps[0]!));
  }

  /** weave_connection_terminations_total of host K: a connection that dropped shows here even
   *  when it came back before anyone looked. */
  async terminations(k: number): Promise<number> {
    const script = "fetch('http://127.0.0.1:6784/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))";
    const text = (await this.host(k).exec(process.execPath, ['-e', script])).stdout;
    return text.split('\n').filter((l) => l.startsWith('weave_connection_terminations_total')).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  }

  /** What the daemon's log says about its connections: counts of the lines that matter, the
   *  last few of them. */
  connectionLog(k: number): string {
    const lines = daemonLogTail(this.host(k), 5000).split('\n');
    const pick = (re: RegExp) => lines.filter((l) => re.test(l));
    const changed = pick(/Peer UDP address changed/);
    const conn = pick(/connection (terminated|lost|closed|deleted)|heartbeat timeout|falling back|back to fastdp|sleeve instead/i);
    return `${changed.length} "Peer UDP address changed", ${conn.length} connection events${conn.length ? `; last: ${conn.slice(-3).map((l) => l.slice(0, 300)).join(' | ')}` : ''}`;
  }

  async established(k: number): Promise<number> {
    return establishedConnections(await routerStatus(this.host(k))).length;
  }

  async snapshot(k: number): Promise<Snapshot> {
    const h = this.host(k);
    const pid = await daemonPid(h);
    const st = await weaveStatus(h);
    const links = (await h.exec('ip', ['-o', 'link', 'show'])).stdout
      .split('\n')
      .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined)
      .sort();
    const files = Object.fromEntries([...stateFiles(h)].filter(([name]) => !name.endsWith('.pid')).sort());
    return {
      pid,
      rssKiB: rssKiB(pid),
      links,
      pools: st.ipam.pools.map((p) => ({ poolId: p.poolId, subnet: p.subnet, addresses: [...p.addresses].sort() })).sort((a, b) => a.poolId.localeCompare(b.poolId)),
      plugin: { networks: st.plugin.networks.map((n) => n.id).sort(), endpoints: st.plugin.endpoints },
      files,
    };
  }

  /** Runs a network surface's generator inside host K's namespaces ('wire': the underlay's own
   *  netns, 198.18.0.254, which reaches every host and nothing else). */
  async runSurface(where: number | 'wire', args: string[], timeoutMs: number): Promise<RunResult> {
    const node = [process.execPath, '--import', 'tsx', RUN_SCRIPT, ...args];
    const r = where === 'wire'
      ? await runCommand('nsenter', [`--net=/run/netns/${this.lab.layout.wireNetns}`, '--', ...node], { cwd: REPO_ROOT, timeoutMs, allowFail: true })
      : await this.host(where).exec(node[0]!, node.slice(1), { cwd: REPO_ROOT, timeoutMs, allowFail: true });
    const last = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code !== 0 || !last.startsWith('{')) throw new Error(`fuzz runner ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr.slice(-3000)}`);
    return JSON.parse(last) as RunResult;
  }

  /** UDP payloads between the peers on 6783/6784 while the containers ping, captured on the
   *  wire: what the UDP surface replays. Returned as the runner's context file. */
  async captureContext(): Promise<string> {
    const pcap = join(this.lab.layout.dir, 'fuzz-capture.pcap');
    const capture = runCommand('nsenter', [`--net=/run/netns/${this.lab.layout.wireNetns}`, '--', 'timeout', '8', 'tcpdump', '-i', 'br0', '-U', '-c', '60', '-w', pcap, 'udp and (port 6783 or port 6784)'], { allowFail: true, timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 1000));
    await this.host(1).tryDocker(['exec', 'c1', 'ping', '-c', '5', '-i', '0.2', '-s', '200', this.containerIps[1]!]);
    await capture;
    const captured = parsePcapUdp(readFileSync(pcap));
    unlinkSync(pcap);
    const file = join(this.lab.layout.dir, 'fuzz-udp-context.json');
    writeFileSync(file, JSON.stringify({ peers: this.peerNames, captured: captured.map((c) => ({ port: c.port, hex: c.payload.toString('hex') })) }));
    return file;
  }

  async down(): Promise<void> {
    await this.lab.down();
  }
}

export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** UDP payloads (and destination ports) of an Ethernet pcap file. */
export function parsePcapUdp(buf: Buffer): { port: number; payload: Buffer }[] {
  const out: { port: number; payload: Buffer }[] = [];
  if (buf.length < 24) return out;
  const le = buf.readUInt32LE(0) === 0xa1b2c3d4;
  let off = 24;
  while (off + 16 <= buf.length) {
    const incl = le ? buf.readUInt32LE(off + 8) : buf.readUInt32BE(off + 8);
    const pkt = buf.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    if (pkt.length < 14 + 20 + 8 || pkt.readUInt16BE(12) !== 0x0800) continue;
    const ihl = (pkt[14]! & 0x0f) * 4;
    if (pkt[14 + 9] !== 17) continue;
    const udp = 14 + ihl;
    const port = pkt.readUInt16BE(udp + 2);
    out.push({ port, payload: Buffer.from(pkt.subarray(udp + 8)) });
  }
  return out;
}
