import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEngine, waitEngine } from './engine.ts';
import { ensureImageTarball, importImage } from './image.ts';
import { LabHost } from './lab-host.ts';
import { LabLayout, MAX_HOSTS, UNDERLAY_GATEWAY } from './lab-layout.ts';
import { teardownLabSync } from './lab-teardown.ts';
import { requireRoot } from './require-root.ts';
import { requireTools } from './require-tools.ts';
import { runCommand } from './run-command.ts';
import { spawnDetached } from './spawn-detached.ts';
import { ownerRecord, sweepStaleLabs } from './stale-labs.ts';
import { waitFor } from './wait.ts';

const HOLDER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'holder.sh');
const UPSTREAM_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'lab-dns-upstream.ts');

export interface LabOptions {
  hosts: number;
  /** Progress lines (default: silent). */
  log?: (line: string) => void;
  /** Engine binary (default /usr/sbin/dockerd). */
  dockerd?: string;
  /** How long to wait for each engine to answer (default 30 s). */
  engineTimeoutMs?: number;
  /** Written to every host's /etc/docker/daemon.json before its engine starts: the one-time
   *  host settings a user makes (e.g. `{ dns: ['169.254.53.53'] }` for weaveDNS). */
  daemonJson?: Record<string, unknown>;
  /** false: daemon-only hosts — namespaces and the per-host filesystem view, but no dockerd and
   *  no image (for router-only work such as a 50-peer mesh, where 50 engines would cost more than
   *  what is measured). Default true. */
  docker?: boolean;
}

/** A DNS server for the lab's "outside world" (lab-dns-upstream.ts), on the wire. */
export interface LabUpstreamDns {
  address: string;
  pid: number;
}

function newLabId(): string {
  return randomBytes(4).toString('hex').slice(0, 6);
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function hostMac(k: number): string {
  return `02:c6:12:00:00:${k.toString(16).padStart(2, '0')}`;
}

async function ip(...args: string[]): Promise<void> {
  await runCommand('ip', args, { timeoutMs: 10_000 });
}

/** Several Docker hosts on one machine: a dead-end underlay (bridge in netns wv-ID-wire) and
 *  per host a netns, a holder process with its own mount + UTS namespace and its own dockerd.
 *  Nothing is created in the root netns and nothing can leave the lab. */
export class Lab {
  private downDone = false;
  private readonly onExit = (): void => {
    if (!this.downDone) teardownLabSync(this.layout);
  };
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.onExit();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };

  private constructor(readonly layout: LabLayout, readonly hosts: LabHost[]) {}

  get id(): string {
    return this.layout.id;
  }

  /** Host K, 1-based like the host names. */
  host(k: number): LabHost {
    const h = this.hosts[k - 1];
    if (!h) throw new Error(`lab ${this.id} has no host${k} (it has ${this.hosts.length})`);
    return h;
  }

  static async up(opts: LabOptions): Promise<Lab> {
    requireRoot('Lab.up');
    const n = opts.hosts;
    if (!Number.isInteger(n) || n < 1 || n > MAX_HOSTS) throw new Error(`Lab.up: hosts must be 1..${MAX_HOSTS}, got ${n}`);
    const log = opts.log ?? (() => undefined);
    const t0 = performance.now();
    const since = (): string => `${((performance.now() - t0) / 1000).toFixed(2)} s`;

    const dockerd = opts.dockerd ?? '/usr/sbin/dockerd';
    const withDocker = opts.docker ?? true;
    requireTools([...(withDocker ? [dockerd, 'docker', 'tar', 'ldd', '/bin/busybox', '/usr/bin/iperf3'] : []), 'ip', 'nsenter', 'unshare', 'findmnt', 'mount', 'umount', 'sysctl']);
    const stale = sweepStaleLabs();
    if (stale.swept.length) log(`swept stale labs ${stale.swept.join(', ')}${stale.problems.length ? `; problems: ${stale.problems.join('; ')}` : ''}`);
    const tarball = withDocker ? ensureImageTarball() : undefined;

    const layout = new LabLayout(newLabId());
    // the marker (with owner) exists before any namespace, so a crash at any later point is
    // found and cleaned by the next run's sweeper
    mkdirSync(layout.dir, { recursive: true });
    writeFileSync(layout.ownerFile, ownerRecord());
    const lab = new Lab(layout, []);
    lab.arm();
    try {
      await lab.makeWire();
      // at most 8 hosts in the making at once: with 50 at a time the kernel's netns work (and a
      // loaded machine) pushed single `ip` commands past their timeout
      const holders: number[] = new Array<number>(n);
      let next = 0;
      await Promise.all(Array.from({ length: Math.min(8, n) }, async () => {
        while (next < n) {
          const k = ++next;
          holders[k - 1] = await lab.makeHost(k, opts.daemonJson);
        }
      }));
      holders.forEach((pid, i) => lab.hosts.push(new LabHost(i + 1, layout, pid, dockerd)));
      if (n > 8) await lab.pinNeighbours();
      log(`lab ${layout.id}: namespaces ready (${since()})`);
      if (tarball === undefined) {
        log(`lab ${layout.id}: up with ${n} daemon-only hosts (${since()})`);
        return lab;
      }
      for (const h of lab.hosts) startEngine(h.engine);
      await Promise.all(lab.hosts.map((h) => waitEngine(h.engine, `dockerd of ${h.name}`, opts.engineTimeoutMs ?? 30_000)));
      log(`lab ${layout.id}: engines answer (${since()})`);
      await Promise.all(lab.hosts.map((h) => importImage(h.dockerSocket, tarball)));
      log(`lab ${layout.id}: up with ${n} hosts (${since()})`);
      return lab;
    } catch (err) {
      const problems = lab.teardown();
      const extra = problems.length ? `\n(teardown after the failure left: ${problems.join('; ')})` : '';
      throw new Error(`Lab.up of lab ${layout.id} failed: ${(err as Error).message}${extra}`, { cause: err });
    }
  }

  /** Starts an authoritative DNS server for `zone` (name -> IPv4) on the wire's own address, where
   *  every host reaches it; down() stops it (it lives in the wire netns). */
  async startUpstreamDns(zone: Record<string, string>): Promise<LabUpstreamDns> {
    const ready = join(this.layout.dir, `upstream-dns-${Date.now()}.ready`);
    const zoneArg = Object.entries(zone).map(([name, ip]) => `${name}=${ip}`).join(',');
    spawnDetached('nsenter', [`--net=/run/netns/${this.layout.wireNetns}`, '--', process.execPath, '--import', 'tsx', UPSTREAM_SCRIPT,
      '--listen', UNDERLAY_GATEWAY, '--zone', zoneArg, '--ready', ready], join(this.layout.dir, 'upstream-dns.log'));
    const pid = await waitFor(() => {
      try {
        const s = readFileSync(ready, 'utf8').trim();
        return /^\d+$/.test(s) ? Number(s) : undefined;
      } catch {
        return undefined;
      }
    }, { timeoutMs: 15_000, intervalMs: 50, what: 'the lab upstream DNS server' }).catch((err: Error) => {
      throw new Error(`${err.message}\n${tail(join(this.layout.dir, 'upstream-dns.log'), 20)}`);
    });
    return { address: UNDERLAY_GATEWAY, pid };
  }

  /** Stops everything of the lab and removes its namespaces, cgroups and state. Idempotent. */
  async down(): Promise<void> {
    if (this.downDone) return;
    const problems = this.teardown();
    if (problems.length) throw new Error(`Lab.down of ${this.id} left things behind:\n${problems.join('\n')}`);
  }

  private teardown(): string[] {
    this.downDone = true;
    this.disarm();
    return teardownLabSync(this.layout);
  }

  /** Fallbacks for when the test process ends without reaching down(). */
  private arm(): void {
    process.on('exit', this.onExit);
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  private disarm(): void {
    process.off('exit', this.onExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  private async makeWire(): Promise<void> {
    const w = this.layout.wireNetns;
    await ip('netns', 'add', w);
    await ip('-n', w, 'link', 'set', 'lo', 'up');
    // new netns copy IPv4 sysctls from the root ns, which forwards: the wire must be a dead end
    await runCommand('nsenter', [`--net=/run/netns/${w}`, '--', 'sysctl', '-qw',
      'net.ipv4.ip_forward=0', 'net.ipv6.conf.all.forwarding=0']);
    await ip('-n', w, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', w, 'addr', 'add', `${UNDERLAY_GATEWAY}/24`, 'dev', 'br0');
    await ip('-n', w, 'link', 'set', 'br0', 'up');
  }

  /** The kernel's ARP table is one for all namespaces (gc_thresh3, 1024 entries by default):
   *  a big lab whose hosts all talk to each other (50 hosts: 2450 entries) overflows it, and
   *  sends fail with ENOBUFS. Permanent entries do not count against it, so every host gets
   *  one per other host, all inside the lab's namespaces. */
  private async pinNeighbours(): Promise<void> {
    const L = this.layout;
    const ks = this.hosts.map((h) => h.k);
    for (const k of ks) {
      const lines = ks.filter((o) => o !== k).map((o) => `neigh replace ${L.hostAddress(o)} lladdr ${hostMac(o)} dev eth0 nud permanent`);
      await runCommand('ip', ['-n', L.hostNetns(k), '-batch', '-'], { input: `${lines.join('\n')}\n`, timeoutMs: 30_000 });
    }
  }

  /** Netns with eth0 on the wire, then the holder; returns the holder's PID. */
  private async makeHost(k: number, daemonJson?: Record<string, unknown>): Promise<number> {
    const L = this.layout;
    const f = L.hostFiles(k);
    for (const d of [f.run, f.etcDocker, f.dockerData, f.weaveData]) mkdirSync(d, { recursive: true });
    if (daemonJson) writeFileSync(join(f.etcDocker, 'daemon.json'), JSON.stringify(daemonJson, null, 2));
    const ns = L.hostNetns(k);
    const w = L.wireNetns;
    await ip('netns', 'add', ns);
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    // made inside the wire netns with the peer put straight into the host: never in the root ns
    await ip('-n', w, 'link', 'add', L.wirePort(k), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip('-n', w, 'link', 'set', L.wirePort(k), 'master', 'br0', 'up');
    await ip('-n', ns, 'link', 'set', 'eth0', 'address', hostMac(k));
    await ip('-n', ns, 'addr', 'add', `${L.hostAddress(k)}/24`, 'dev', 'eth0');
    await ip('-n', ns, 'link', 'set', 'eth0', 'up');
    // a dead-end default route: software looking for "the default interface" finds eth0
    await ip('-n', ns, 'route', 'add', 'default', 'via', UNDERLAY_GATEWAY, 'dev', 'eth0');

    spawnDetached('nsenter', [`--net=/run/netns/${ns}`, '--', 'unshare', '--mount', '--uts', '--propagation', 'private', '--',
      'sh', HOLDER_SCRIPT, L.hostName(k), f.dir], f.holderLog);
    const pid = await waitFor(() => {
      const s = readFileSync(f.holderPid, 'utf8').trim();
      return /^\d+$/.test(s) ? Number(s) : undefined;
    }, { timeoutMs: 10_000, intervalMs: 20, what: `holder of host${k}` }).catch((err: Error) => {
      throw new Error(`${err.message}\n${tail(f.holderLog, 20)}`);
    });
    writeFileSync(f.mntns, readlinkSync(`/proc/${pid}/ns/mnt`));
    return pid;
  }
}
