// Runs inside the QEMU guest (test/vm; host entry: test/kernel/odp-vm.test.ts), whose Debian
// kernel has ESP. Two "hosts" (netns on a veth underlay) run the real daemon with
// WEAVE_PASSWORD: the fast path is encrypted with kernel IPsec as Weave's is (per-direction
// SAs keyed from the mesh session key, a mark selecting the policy), the underlay carries ESP
// only, blocking ESP sends the connection to encrypted sleeve and unblocking brings it back,
// and a peer with the wrong password never gets an SA.
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

interface Conn {
  Address: string;
  State: string;
  Info: string;
  Attrs?: { name?: string; reason?: string; encrypted?: boolean };
}
interface Status {
  router: { Connections: Conn[]; Fastdp: { enabled: boolean; backend?: string; reason?: string } };
}
interface Host {
  ns: string;
  underlay: string;
  container: string;
  overlay: string;
  data: string;
  daemon?: ChildProcess;
}

/** The status API through curl (a node CLI start takes seconds under emulation). */
function status(h: Host): Status {
  return JSON.parse(execFileSync('ip', ['netns', 'exec', h.ns, 'curl', '-s', '-m', '10', 'http://127.0.0.1:6784/status'], { encoding: 'utf8' })) as Status;
}

function established(h: Host): Conn | undefined {
  try {
    return status(h).router.Connections.find((c) => c.State === 'established');
  } catch {
    return undefined;
  }
}

/** Our SAs (reqid) in a host, as `ip xfrm state` lists them. */
function ourSas(h: Host): string[] {
  return ip('-n', h.ns, 'xfrm', 'state')
    .split(/\n(?=src )/)
    .filter((s) => s.includes(`reqid ${IPSEC_REQID} `));
}

describe('encrypted fastdp (IPsec ESP) between two daemons in the guest', function () {
  this.timeout(600_000);
  const work = mkdtempSync(join(tmpdir(), 'wv-ipsec-'));
  const hosts: Host[] = [
    { ns: 'wv-ipsec-h1', underlay: '198.18.0.1', container: 'wv-ipsec-c1', overlay: '10.32.0.1', data: join(work, 'h1') },
    { ns: 'wv-ipsec-h2', underlay: '198.18.0.2', container: 'wv-ipsec-c2', overlay: '10.32.0.2', data: join(work, 'h2') },
  ];
  const [h1, h2] = hosts as [Host, Host];
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
    args.push('--name', `02:00:00:00:00:0${hosts.indexOf(h) + 1}`, ...peers);
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
  /** When the daemon of `h` logged its connection moving to `path` at or after `since` (ms). */
  const movedAt = (h: Host, path: string, since: number): number | undefined => {
    for (const line of readFileSync(join(work, `${h.ns}.log`), 'utf8').split('\n')) {
      if (!line.includes(`now uses ${path}`)) continue;
      const t = Date.parse((JSON.parse(line) as { timestamp: string }).timestamp);
      if (t >= since) return t;
    }
    return undefined;
  };

  it('the connection comes up as encrypted fastdp, with one SA each way and the marked policy', async function () {
    for (const h of hosts) {
      const c = await onPath(h, 'fastdp', 180_000);
      expect(c.Info, h.ns).to.match(/^encrypted\s+fastdp /);
      expect(c.Attrs, h.ns).to.deep.include({ encrypted: true });
      expect(c.Attrs?.reason, h.ns).to.equal(undefined);
      const sas = ourSas(h);
      expect(sas, `${h.ns} SAs`).to.have.length(2);
      for (const sa of sas) expect(sa).to.match(/aead rfc4106\(gcm\(aes\)\) 0x[0-9a-f]{72} 128/).and.match(/flag esn/);
      const policy = ip('-n', h.ns, 'xfrm', 'policy');
      expect(policy, h.ns).to.include('mark 0x20000/0x20000').and.include('proto esp');
    }
    // each direction's key is the same at both ends (same SPI -> same key), and the two differ
    const keyOf = (h: Host, src: string): string => /0x([0-9a-f]{72}) 128/.exec(ourSas(h).find((s) => s.startsWith(`src ${src} `))!)![1]!;
    expect(keyOf(h1, h1.underlay)).to.equal(keyOf(h2, h1.underlay));
    expect(keyOf(h1, h2.underlay)).to.equal(keyOf(h2, h2.underlay));
    expect(keyOf(h1, h1.underlay)).to.not.equal(keyOf(h1, h2.underlay));
  });

  it('containers ping both ways and the underlay carries ESP only (no VXLAN, no inner ICMP in clear)', async function () {
    const pcap = join(work, 'underlay.pcap');
    // everything but the mesh's TCP control connection
    const capture = spawn('ip', ['netns', 'exec', h2.ns, 'tcpdump', '-U', '-n', '-i', 'wv-u2', '-w', pcap, 'not', 'tcp', 'port', '6783'], { stdio: 'ignore' });
    try {
      await waitFor(async () => existsSync(pcap) || undefined, { timeoutMs: 60_000, intervalMs: 200, what: 'tcpdump to start' });
      await new Promise((r) => setTimeout(r, 1500));
      await pings(h1, h2, 5);
      await pings(h2, h1, 5);
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      capture.kill('SIGINT');
      await new Promise((r) => capture.once('exit', r));
    }
    const packets = (filter: string): string[] =>
      execFileSync('tcpdump', ['-n', '-r', pcap, filter], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter((l) => l.trim() !== '');
    const count = (filter: string): number => packets(filter).length;
    expect(count('esp and src 198.18.0.1'), 'ESP h1 -> h2').to.be.at.least(10);
    expect(count('esp and src 198.18.0.2'), 'ESP h2 -> h1').to.be.at.least(10);
    expect(count('udp port 6784'), 'VXLAN in clear').to.equal(0);
    expect(count('icmp'), 'ICMP in clear').to.equal(0);
    // sleeve's datagrams (UDP 6783) are NaCl-encrypted; nothing else may be on the wire
    const other = packets('not esp and not arp and not udp port 6783');
    expect(other.length, `anything else on the underlay:\n${other.slice(0, 10).join('\n')}`).to.equal(0);
  });

  it('blocking ESP sends it to encrypted sleeve within 5 s (pings pass); unblocking brings encrypted fastdp back within 15 s', async function () {
    const nft = (script: string): string => execFileSync('ip', ['netns', 'exec', h2.ns, 'nft', '-f', '-'], { input: script, encoding: 'utf8' });
    nft('table inet wv_block {\n chain in { type filter hook input priority 0; ip protocol esp drop; }\n}\n');
    const blocked = Date.now();
    let unblocked = 0;
    try {
      const c = await onPath(h1, 'sleeve', 60_000);
      expect(c.Info).to.match(/^encrypted\s+sleeve /);
      expect(c.Attrs?.reason).to.match(/^ESP \(IP protocol 50\) or UDP 6784 unreachable/);
      // the daemon's own log says when it switched (polling the status under emulation lags)
      const fallback = (movedAt(h1, 'sleeve', blocked)! - blocked) / 1000;
      console.log(`      fallback to encrypted sleeve after ${fallback.toFixed(1)} s: ${c.Attrs?.reason ?? ''}`);
      expect(fallback, 'seconds to fall back').to.be.at.most(5);
      await pings(h1, h2, 3);
    } finally {
      nft('delete table inet wv_block\n');
      unblocked = Date.now();
    }
    await onPath(h1, 'fastdp', 60_000);
    await onPath(h2, 'fastdp', 60_000);
    const back = (Math.max(movedAt(h1, 'fastdp', unblocked)!, movedAt(h2, 'fastdp', unblocked) ?? unblocked) - unblocked) / 1000;
    console.log(`      back on encrypted fastdp after ${back.toFixed(1)} s`);
    expect(back, 'seconds to return').to.be.at.most(15);
    await pings(h1, h2, 3);
  });

  it('a peer with the wrong password never gets an SA; the old connection\'s SAs are gone', async function () {
    await stopDaemon(h2);
    // h2's own teardown removed its SAs; h1 removes its when the connection drops
    expect(ourSas(h2), 'h2 after stop').to.deep.equal([]);
    await waitFor(async () => Promise.resolve(ourSas(h1).length === 0 || undefined), { timeoutMs: 60_000, intervalMs: 500, what: 'h1 to remove the SAs of the closed connection' });
    startDaemon(h2, 'not-the-password');
    await waitFor(async () => Promise.resolve(readFileSync(join(work, `${h2.ns}.log`), 'utf8').split('\n').length > 5 || undefined), {
      timeoutMs: 120_000,
      intervalMs: 1000,
      what: 'the second daemon in h2 to start',
    });
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      expect(ourSas(h1), 'SAs on h1').to.deep.equal([]);
      expect(ourSas(h2), 'SAs on h2').to.deep.equal([]);
      expect(established(h1), 'h1 has no established connection').to.equal(undefined);
      await new Promise((r) => setTimeout(r, 1000));
    }
  });
});
