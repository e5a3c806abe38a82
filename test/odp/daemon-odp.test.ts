// Runs inside the QEMU guest (test/vm; host entry: test/kernel/odp-vm.test.ts). Two "hosts"
// (netns joined by a veth underlay), each running the real daemon (`weave daemon`, no Docker);
// a "container" netns on each host's bridge. With the kernel's Open vSwitch datapath present
// the daemon must pick the ODP backend by itself, announce it as Weave's "fastdp", and carry
// the containers' traffic in the kernel with the mesh's short ids in the VNI.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { weaveVni } from '../../datapath/netlink/ovs/vni.ts';
import { REPO_ROOT } from '../harness/repo-root.ts';
import { runCommand } from '../harness/run-command.ts';
import { ip, joinUnderlay, requireOvsGuest } from './guest-lab.ts';
import { waitFor } from '../harness/wait.ts';
import { vxlanFramesInPcap } from './pcap.ts';

const WEAVE = join(REPO_ROOT, 'bin', 'weave.js');

interface Conn {
  Address: string;
  State: string;
  Info: string;
  Attrs?: { name?: string; reason?: string };
}
interface Status {
  router: {
    Name: string;
    Connections: Conn[];
    Peers: { Name: string; ShortID: number }[];
    Fastdp: { enabled: boolean; backend?: string; reason?: string };
    Sleeve: { packetsOut: number };
  };
}

interface Host {
  ns: string;
  underlay: string;
  container: string;
  overlay: string;
  data: string;
  daemon?: ChildProcess;
}

async function status(h: Host): Promise<Status> {
  const r = await runCommand('ip', ['netns', 'exec', h.ns, process.execPath, WEAVE, 'status', '--json'], { timeoutMs: 120_000 });
  return JSON.parse(r.stdout) as Status;
}

describe('the daemon in the guest picks the ODP fast path and speaks Weave fastdp', function () {
  this.timeout(600_000);
  const work = mkdtempSync(join(tmpdir(), 'wv-odpd-'));
  const hosts: Host[] = [
    { ns: 'wv-odpd-h1', underlay: '198.18.0.1', container: 'wv-odpd-c1', overlay: '10.32.0.1', data: join(work, 'h1') },
    { ns: 'wv-odpd-h2', underlay: '198.18.0.2', container: 'wv-odpd-c2', overlay: '10.32.0.2', data: join(work, 'h2') },
  ];
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

  afterEach(function () {
    if (this.currentTest?.state === 'failed') dumpLogs();
  });

  before(async function () {
    try {
      await setUp();
    } catch (err) {
      dumpLogs();
      throw err;
    }
  });

  async function setUp(): Promise<void> {
    await requireOvsGuest();
    for (const ns of namespaces) ip('netns', 'add', ns);
    const [h1, h2] = hosts as [Host, Host];
    joinUnderlay(h1, h2);
    for (const h of hosts) {
      const peers = h === h1 ? [] : [h1.underlay];
      // no Docker here: the plugin socket and Docker socket point at nothing that matters
      const args = [WEAVE, 'daemon', '--data-dir', h.data, '--plugin-socket', join(h.data, 'weave.sock'), '--docker-socket', join(h.data, 'no-docker.sock'), '--no-default-network', '--nickname', h.ns, ...peers];
      // one guest, one machine id: the derived peer names would collide
      args.push('--name', `02:00:00:00:00:0${hosts.indexOf(h) + 1}`);
      const log = join(work, `${h.ns}.log`);
      h.daemon = spawn('sh', ['-c', `mkdir -p ${h.data} && exec ip netns exec ${h.ns} "$@" >${log} 2>&1`, 'sh', process.execPath, ...args], { stdio: 'ignore' });
    }
    for (const h of hosts) {
      await waitFor(async () => (await status(h).catch(() => undefined))?.router, { timeoutMs: 240_000, intervalMs: 2000, what: `the daemon in ${h.ns} to answer` });
    }
    for (const h of hosts) {
      ip('link', 'add', 'eth0', 'netns', h.container, 'type', 'veth', 'peer', 'name', `vethwl-${h.ns.slice(-2)}`, 'netns', h.ns);
      ip('-n', h.ns, 'link', 'set', `vethwl-${h.ns.slice(-2)}`, 'master', 'weave', 'up');
      ip('-n', h.container, 'addr', 'add', `${h.overlay}/12`, 'dev', 'eth0');
      ip('-n', h.container, 'link', 'set', 'eth0', 'mtu', '1376', 'up');
    }
  }

  after(async function () {
    for (const h of hosts) {
      if (h.daemon?.pid !== undefined && h.daemon.exitCode === null) {
        h.daemon.kill('SIGTERM');
        await new Promise((r) => {
          const t = setTimeout(() => {
            h.daemon?.kill('SIGKILL');
            r(undefined);
          }, 60_000);
          h.daemon?.once('exit', () => {
            clearTimeout(t);
            r(undefined);
          });
        });
      }
    }
    for (const ns of namespaces) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not created
      }
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('chooses the ODP backend by itself (bridged_fastdp layout) and the connection comes up on fastdp', async function () {
    for (const h of hosts) {
      const st = await status(h);
      expect(st.router.Fastdp, h.ns).to.deep.include({ enabled: true, backend: 'odp' });
      const links = ip('-n', h.ns, '-o', 'link', 'show');
      for (const name of ['weave', 'datapath', 'vethwe-bridge', 'vethwe-datapath', 'vxlan-6784']) expect(links, h.ns).to.include(`: ${name}`);
    }
    for (const h of hosts) {
      const conn = await waitFor(
        async () => (await status(h)).router.Connections.find((c) => c.State === 'established' && c.Attrs?.name === 'fastdp'),
        { timeoutMs: 180_000, intervalMs: 2000, what: `${h.ns} to have an established fastdp connection` },
      );
      expect(conn.Attrs?.reason).to.equal(undefined);
    }
  });

  it('containers ping each other in the kernel: tunnel ids are (dst << 12) | src of the mesh short ids', async function () {
    const [h1, h2] = hosts as [Host, Host];
    const pcap = join(work, 'underlay.pcap');
    const capture = spawn('ip', ['netns', 'exec', h2.ns, 'tcpdump', '-U', '--immediate-mode', '-n', '-i', 'wv-u2', '-w', pcap, 'udp', 'port', '6784'], { stdio: 'ignore' });
    try {
      await waitFor(async () => existsSync(pcap) || undefined, { timeoutMs: 60_000, intervalMs: 200, what: 'tcpdump to start' });
      await new Promise((r) => setTimeout(r, 1500));
      const before = (await status(h1)).router.Sleeve.packetsOut;
      const r = await runCommand('ip', ['netns', 'exec', h1.container, 'ping', '-c', '10', '-i', '0.3', '-W', '10', h2.overlay], { timeoutMs: 180_000, allowFail: true });
      expect(r.stdout, r.stderr).to.match(/10 received/);
      const st1 = await status(h1);
      // gossip is TCP and heartbeats go over the kernel path: 10 echo requests on sleeve would show
      expect(st1.router.Sleeve.packetsOut - before, 'frames sent over sleeve while pinging').to.be.lessThan(5);
      const st2 = await status(h2);
      const short = (st: Status): number => st.router.Peers.find((p) => p.Name === st.router.Name)!.ShortID;
      await new Promise((r2) => setTimeout(r2, 1000));
      capture.kill('SIGINT');
      await new Promise((r2) => capture.once('exit', r2));
      const frames = vxlanFramesInPcap(pcap, 6784);
      const there = frames.filter((f) => f.srcIp === h1.underlay && f.dstIp === h2.underlay);
      const back = frames.filter((f) => f.srcIp === h2.underlay && f.dstIp === h1.underlay);
      expect(there.length, 'VXLAN frames h1 -> h2').to.be.greaterThan(9);
      expect(back.length, 'VXLAN frames h2 -> h1').to.be.greaterThan(9);
      expect(new Set(there.map((f) => f.vni))).to.deep.equal(new Set([weaveVni(short(st1), short(st2))]));
      expect(new Set(back.map((f) => f.vni))).to.deep.equal(new Set([weaveVni(short(st2), short(st1))]));
      expect(there.every((f) => f.df), 'DF set').to.equal(true);
    } finally {
      if (capture.exitCode === null) capture.kill('SIGKILL');
    }
  });

  it('drops to sleeve with the reason when UDP 6784 is blocked, containers still talk, and returns to fastdp', async function () {
    const [h1, h2] = hosts as [Host, Host];
    const nft = (script: string): string => execFileSync('ip', ['netns', 'exec', h2.ns, 'nft', '-f', '-'], { input: script, encoding: 'utf8' });
    const onPath = async (h: Host, name: string): Promise<Conn> =>
      waitFor(async () => (await status(h)).router.Connections.find((c) => c.State === 'established' && c.Attrs?.name === name), {
        timeoutMs: 120_000,
        intervalMs: 1000,
        what: `${h.ns}'s connection on ${name}`,
      });
    const ping = async (): Promise<string> =>
      (await runCommand('ip', ['netns', 'exec', h1.container, 'ping', '-c', '5', '-i', '0.3', '-W', '10', h2.overlay], { timeoutMs: 120_000, allowFail: true })).stdout;
    nft('table inet wv_block {\n chain in { type filter hook input priority 0; udp dport 6784 drop; }\n}\n');
    try {
      for (const h of hosts) expect((await onPath(h, 'sleeve')).Attrs?.reason, h.ns).to.match(/UDP 6784 unreachable/);
      const before = (await status(h1)).router.Sleeve.packetsOut;
      expect(await ping(), 'over sleeve: the bridge no longer sends the peer\'s MACs to the datapath').to.match(/5 received/);
      expect((await status(h1)).router.Sleeve.packetsOut - before, 'echo requests went over sleeve').to.be.at.least(5);
    } finally {
      nft('delete table inet wv_block\n');
    }
    for (const h of hosts) await onPath(h, 'fastdp');
    expect(await ping(), 'back on fastdp').to.match(/5 received/);
  });
});

