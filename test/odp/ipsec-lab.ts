// The two-host lab of the guest's encrypted-fastdp suites (ipsec-odp.test.ts: ODP backend,
// ipsec-vxlan.test.ts: vxlan devices), so that both backends are held to the same checks.
// Two "hosts" (netns on a veth underlay) run the real daemon with WEAVE_PASSWORD, each with a
// netns "container" on its bridge. Runs inside the QEMU guest only (the host kernel may lack ESP).
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { IPSEC_REQID } from '../../datapath/ipsec/constants.ts';
import { REPO_ROOT } from '../harness/repo-root.ts';
import { runCommand } from '../harness/run-command.ts';
import { waitFor } from '../harness/wait.ts';
import { ip, joinUnderlay, requireOvsGuest } from './guest-lab.ts';

const WEAVE = join(REPO_ROOT, 'bin', 'weave.js');

export interface Conn {
  Address: string;
  State: string;
  Info: string;
  Attrs?: { name?: string; reason?: string; encrypted?: boolean };
}
export interface Status {
  router: { Connections: Conn[]; Fastdp: { enabled: boolean; backend?: string; reason?: string } };
}
export interface Host {
  ns: string;
  underlay: string;
  container: string;
  overlay: string;
  data: string;
  daemon?: ChildProcess;
}

/** The status API through curl (a node CLI start takes seconds under emulation). */
export function status(h: Host): Status {
  return JSON.parse(execFileSync('ip', ['netns', 'exec', h.ns, 'curl', '-s', '-m', '10', 'http://127.0.0.1:6784/status'], { encoding: 'utf8' })) as Status;
}

export function established(h: Host): Conn | undefined {
  try {
    return status(h).router.Connections.find((c) => c.State === 'established');
  } catch {
    return undefined;
  }
}

/** Our SAs (reqid) in a host, as `ip xfrm state` lists them. */
export function ourSas(h: Host): string[] {
  return ip('-n', h.ns, 'xfrm', 'state')
    .split(/\n(?=src )/)
    .filter((s) => s.includes(`reqid ${IPSEC_REQID} `));
}

/** tshark's one-line summaries of the frames of `pcap` matching a display filter. UDP 6784 is
 *  decoded as VXLAN so that a frame sent in clear shows its inner ICMP/TCP to the filter. */
export function tshark(pcap: string, filter: string, fields: string[] = []): string[] {
  const out = execFileSync('tshark', ['-n', '-r', pcap, '-d', 'udp.port==6784,vxlan', '-Y', filter, ...(fields.length > 0 ? ['-T', 'fields', ...fields.flatMap((f) => ['-e', f])] : [])], {
    encoding: 'utf8',
    // tshark warns on stderr when run as root; its exit status says whether the filter was valid
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 300_000,
  });
  return out.split('\n').filter((l) => l.trim() !== '');
}

export interface IperfResult {
  sentBytes: number;
  receivedBytes: number;
}

export interface IpsecLab {
  hosts: [Host, Host];
  h1: Host;
  h2: Host;
  work: string;
  startDaemon(h: Host, password: string): void;
  stopDaemon(h: Host): Promise<void>;
  onPath(h: Host, name: string, timeoutMs: number): Promise<Conn>;
  pings(from: Host, to: Host, n: number): Promise<void>;
  iperf(from: Host, to: Host, seconds: number): Promise<IperfResult>;
  /** When the daemon of `h` logged its connection moving to `path` at or after `since` (ms). */
  movedAt(h: Host, path: string, since: number): number | undefined;
  /** Captures the underlay (in h2, everything but the mesh's TCP control connection) while
   *  `traffic` runs; returns the pcap. */
  capture(name: string, traffic: () => Promise<void>): Promise<string>;
  /** The pcap holds at least `minEsp` ESP packets each way, and nothing that is not ESP, ARP or
   *  sleeve's NaCl-encrypted UDP 6783: no VXLAN (UDP 6784) and no inner ICMP/TCP in clear. */
  expectEspOnly(pcap: string, minEsp: number): void;
}

/** Registers the lab's hooks in the calling describe: namespaces, underlay, daemons (with
 *  `--fastdp-backend backend`), containers; teardown also when a test or the setup failed. */
export function ipsecLab(tag: string, backend: 'odp' | 'vxlan'): IpsecLab {
  const work = mkdtempSync(join(tmpdir(), `wv-${tag}-`));
  const hosts: [Host, Host] = [
    { ns: `wv-${tag}-h1`, underlay: '198.18.0.1', container: `wv-${tag}-c1`, overlay: '10.32.0.1', data: join(work, 'h1') },
    { ns: `wv-${tag}-h2`, underlay: '198.18.0.2', container: `wv-${tag}-c2`, overlay: '10.32.0.2', data: join(work, 'h2') },
  ];
  const [h1, h2] = hosts;
  const namespaces = [...hosts.map((h) => h.ns), ...hosts.map((h) => h.container)];

  const dumpLogs = (): void => {
    for (const h of hosts) {
      let log = '';
      try {
        log = readFileSync(join(work, `${h.ns}.log`), 'utf8');
      } catch {
        // never started
      }
      console.log(`--- ${h.ns} daemon log (tail)\n${log.split('\n').slice(-40).join('\n')}`);
    }
  };

  function startDaemon(h: Host, password: string): void {
    const peers = h === h1 ? [] : [h1.underlay];
    const args = [WEAVE, 'daemon', '--data-dir', h.data, '--plugin-socket', join(h.data, 'weave.sock'), '--docker-socket', join(h.data, 'no-docker.sock'), '--no-default-network', '--nickname', h.ns];
    // one guest, one machine id: the derived peer names would collide
    args.push('--name', `02:00:00:00:00:0${hosts.indexOf(h) + 1}`, '--fastdp-backend', backend, ...peers);
    const log = join(work, `${h.ns}.log`);
    h.daemon = spawn('sh', ['-c', `mkdir -p ${h.data} && exec ip netns exec ${h.ns} "$@" >>${log} 2>&1`, 'sh', process.execPath, ...args], {
      stdio: 'ignore',
      env: { ...process.env, WEAVE_PASSWORD: password },
    });
  }

  async function stopDaemon(h: Host): Promise<void> {
    const d = h.daemon;
    if (d?.pid === undefined || d.exitCode !== null) return;
    d.kill('SIGTERM');
    await new Promise((r) => {
      const t = setTimeout(() => {
        d.kill('SIGKILL');
        r(undefined);
      }, 60_000);
      d.once('exit', () => {
        clearTimeout(t);
        r(undefined);
      });
    });
  }

  afterEach(function () {
    if (this.currentTest?.state === 'failed') dumpLogs();
  });

  before(async function () {
    try {
      await requireOvsGuest();
      for (const ns of namespaces) ip('netns', 'add', ns);
      joinUnderlay(h1, h2);
      for (const h of hosts) startDaemon(h, 's3cret-ipsec');
      const answers = (h: Host): true | undefined => {
        try {
          return status(h).router ? true : undefined;
        } catch {
          return undefined;
        }
      };
      for (const h of hosts) await waitFor(async () => Promise.resolve(answers(h)), { timeoutMs: 420_000, intervalMs: 2000, what: `the daemon in ${h.ns} to answer` });
      for (const h of hosts) {
        ip('link', 'add', 'eth0', 'netns', h.container, 'type', 'veth', 'peer', 'name', `vethwl-${h.ns.slice(-2)}`, 'netns', h.ns);
        ip('-n', h.ns, 'link', 'set', `vethwl-${h.ns.slice(-2)}`, 'master', 'weave', 'up');
        ip('-n', h.container, 'addr', 'add', `${h.overlay}/12`, 'dev', 'eth0');
        ip('-n', h.container, 'link', 'set', 'eth0', 'mtu', '1376', 'up');
        ip('-n', h.container, 'link', 'set', 'lo', 'up');
      }
    } catch (err) {
      dumpLogs();
      throw err;
    }
  });

  after(async function () {
    for (const h of hosts) await stopDaemon(h);
    for (const ns of namespaces) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not created
      }
    }
    rmSync(work, { recursive: true, force: true });
  });

  const onPath = (h: Host, name: string, timeoutMs: number): Promise<Conn> =>
    waitFor(async () => Promise.resolve(established(h)).then((c) => (c?.Attrs?.name === name ? c : undefined)), { timeoutMs, intervalMs: 250, what: `${h.ns}'s connection on ${name}` });
  const ping = async (from: Host, to: Host, n: number): Promise<string> =>
    (await runCommand('ip', ['netns', 'exec', from.container, 'ping', '-c', String(n), '-i', '0.3', '-W', '10', to.overlay], { timeoutMs: 120_000, allowFail: true })).stdout;
  /** Under emulation on a loaded machine heartbeats can arrive late and a connection flap for a
   *  moment (losing a ping while it switches); what must hold is that a burst gets through. */
  const pings = async (from: Host, to: Host, n: number): Promise<void> => {
    await waitFor(async () => ((await ping(from, to, n)).includes(`${n} received`) ? true : undefined), { timeoutMs: 90_000, intervalMs: 500, what: `${n} pings ${from.container} -> ${to.overlay}` });
  };

  /** One TCP stream from -> to for `seconds`; the server (in `to`'s container) is ours to stop. */
  const iperf = async (from: Host, to: Host, seconds: number): Promise<IperfResult> => {
    const server = spawn('ip', ['netns', 'exec', to.container, 'iperf3', '-s', '-1', '-B', to.overlay], { stdio: 'ignore' });
    try {
      const listening = (): true | undefined => (execFileSync('ip', ['netns', 'exec', to.container, 'ss', '-Htln', 'sport = :5201'], { encoding: 'utf8' }).trim() !== '' ? true : undefined);
      await waitFor(async () => Promise.resolve(listening()), {
        timeoutMs: 120_000,
        intervalMs: 500,
        what: `iperf3 -s in ${to.container} to listen`,
      });
      const r = await runCommand('ip', ['netns', 'exec', from.container, 'iperf3', '-c', to.overlay, '-t', String(seconds), '-J', '--connect-timeout', '30000'], { timeoutMs: 180_000, allowFail: true });
      let j: { error?: string; end?: { sum_sent?: { bytes: number }; sum_received?: { bytes: number } } };
      try {
        j = JSON.parse(r.stdout) as typeof j;
      } catch {
        throw new Error(`iperf3 ${from.container} -> ${to.overlay} printed no JSON (exit ${r.code}, timed out ${r.timedOut}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
      }
      if (j.error !== undefined) throw new Error(`iperf3 ${from.container} -> ${to.overlay}: ${j.error}`);
      return { sentBytes: j.end?.sum_sent?.bytes ?? 0, receivedBytes: j.end?.sum_received?.bytes ?? 0 };
    } finally {
      if (server.exitCode === null && server.signalCode === null) {
        server.kill('SIGTERM');
        await new Promise((r) => server.once('exit', r));
      }
    }
  };

  const movedAt = (h: Host, path: string, since: number): number | undefined => {
    for (const line of readFileSync(join(work, `${h.ns}.log`), 'utf8').split('\n')) {
      if (!line.includes(`now uses ${path}`)) continue;
      const t = Date.parse((JSON.parse(line) as { timestamp: string }).timestamp);
      if (t >= since) return t;
    }
    return undefined;
  };

  const capture = async (name: string, traffic: () => Promise<void>): Promise<string> => {
    const pcap = join(work, `${name}.pcap`);
    // headers are enough to classify a frame (and to see inner headers of VXLAN in clear);
    // a short snap length keeps an iperf3 run's capture small
    const tcpdump = spawn('ip', ['netns', 'exec', h2.ns, 'tcpdump', '-U', '--immediate-mode', '-n', '-s', '200', '-i', 'wv-u2', '-w', pcap, 'not', 'tcp', 'port', '6783'], { stdio: 'ignore' });
    try {
      await waitFor(async () => existsSync(pcap) || undefined, { timeoutMs: 60_000, intervalMs: 200, what: 'tcpdump to start' });
      await new Promise((r) => setTimeout(r, 1500));
      await traffic();
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      tcpdump.kill('SIGINT');
      await new Promise((r) => tcpdump.once('exit', r));
    }
    return pcap;
  };

  const expectEspOnly = (pcap: string, minEsp: number): void => {
    const espFrom = tshark(pcap, 'esp', ['ip.src']);
    expect(espFrom.filter((s) => s === h1.underlay).length, 'ESP h1 -> h2').to.be.at.least(minEsp);
    expect(espFrom.filter((s) => s === h2.underlay).length, 'ESP h2 -> h1').to.be.at.least(minEsp);
    const clear = tshark(pcap, 'udp.port == 6784 || vxlan || icmp || tcp || !(esp || arp || udp.port == 6783)');
    expect(clear.length, `frames in clear on the underlay (VXLAN, inner ICMP/TCP, anything else):\n${clear.slice(0, 10).join('\n')}`).to.equal(0);
  };

  return { hosts, h1, h2, work, startDaemon, stopDaemon, onPath, pings, iperf, movedAt, capture, expectEspOnly };
}

/** What both backends must show once the connection is up as encrypted fastdp: containers ping
 *  and move iperf3 traffic both ways while the underlay carries nothing in clear. */
export function encryptedTrafficTests(lab: IpsecLab): void {
  const { h1, h2 } = lab;

  it('containers ping both ways and the underlay carries ESP only (no VXLAN, no inner ICMP in clear; tshark)', async function () {
    const pcap = await lab.capture('pings', async () => {
      await lab.pings(h1, h2, 5);
      await lab.pings(h2, h1, 5);
    });
    lab.expectEspOnly(pcap, 10);
  });

  it('iperf3 moves data both ways on encrypted fastdp and the underlay still carries ESP only (tshark)', async function () {
    const since = Date.now();
    const results: string[] = [];
    const pcap = await lab.capture('iperf3', async () => {
      for (const [from, to] of [
        [h1, h2],
        [h2, h1],
      ] as const) {
        const r = await lab.iperf(from, to, 2);
        results.push(`${from.container} -> ${to.container}: ${r.sentBytes} bytes sent, ${r.receivedBytes} received`);
        // no speed is asserted (emulated guest); a stream that got through moves far more than this
        expect(r.receivedBytes, `iperf3 bytes received ${from.container} -> ${to.container}`).to.be.at.least(64 * 1024);
      }
    });
    console.log(`      iperf3 ${results.join('; ')}`);
    // had the connection fallen back, the data would have gone over sleeve (UDP 6783, which the
    // capture check allows): it must have stayed on the fast path all along
    for (const h of lab.hosts) expect(lab.movedAt(h, 'sleeve', since), `${h.ns} moved to sleeve during iperf3`).to.equal(undefined);
    lab.expectEspOnly(pcap, 100);
  });
}

/** The fallback both backends must make when the underlay drops ESP, and the way back. */
export function espBlockTest(lab: IpsecLab): void {
  const { h1, h2 } = lab;

  it('blocking ESP sends it to encrypted sleeve within 5 s (pings pass); unblocking brings encrypted fastdp back within 15 s', async function () {
    const nft = (script: string): string => execFileSync('ip', ['netns', 'exec', h2.ns, 'nft', '-f', '-'], { input: script, encoding: 'utf8' });
    nft('table inet wv_block {\n chain in { type filter hook input priority 0; ip protocol esp drop; }\n}\n');
    const blocked = Date.now();
    let unblocked = 0;
    try {
      const c = await lab.onPath(h1, 'sleeve', 60_000);
      expect(c.Info).to.match(/^encrypted\s+sleeve /);
      expect(c.Attrs?.reason).to.match(/^ESP \(IP protocol 50\) or UDP 6784 unreachable/);
      // the daemon's own log says when it switched (polling the status under emulation lags)
      const fallback = (lab.movedAt(h1, 'sleeve', blocked)! - blocked) / 1000;
      console.log(`      fallback to encrypted sleeve after ${fallback.toFixed(1)} s: ${c.Attrs?.reason ?? ''}`);
      expect(fallback, 'seconds to fall back').to.be.at.most(5);
      await lab.pings(h1, h2, 3);
    } finally {
      nft('delete table inet wv_block\n');
      unblocked = Date.now();
    }
    await lab.onPath(h1, 'fastdp', 60_000);
    await lab.onPath(h2, 'fastdp', 60_000);
    const back = (Math.max(lab.movedAt(h1, 'fastdp', unblocked)!, lab.movedAt(h2, 'fastdp', unblocked) ?? unblocked) - unblocked) / 1000;
    console.log(`      back on encrypted fastdp after ${back.toFixed(1)} s`);
    expect(back, 'seconds to return').to.be.at.most(15);
    await lab.pings(h1, h2, 3);
  });
}
