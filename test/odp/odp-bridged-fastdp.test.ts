// Runs inside the QEMU guest (test/vm; host entry: test/kernel/odp-vm.test.ts). Two "hosts"
// (netns), each with Weave's bridged_fastdp layout on a real OVS kernel datapath, joined by a
// veth underlay; a "container" netns on each bridge. Containers ping each other through both
// datapaths over VXLAN with flows our learning bridge installs on misses.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { silentLogger } from '../../common/logger.ts';
import { LearningBridge } from '../../datapath/odp/learning-bridge.ts';
import type { TunnelPeer } from '../../datapath/odp/learning-bridge.ts';
import { OdpDatapath } from '../../datapath/odp/odp-datapath.ts';
import { weaveVni } from '../../datapath/netlink/ovs/vni.ts';
import { runCommand } from '../harness/run-command.ts';
import { ip, joinUnderlay, requireOvsGuest } from './guest-lab.ts';
import { vxlanFramesInPcap } from './pcap.ts';

/** Async on purpose: the misses are handled on this process's event loop, which a synchronous
 *  child would block. */
async function pingFrom(ns: string, ...args: string[]): Promise<string> {
  const r = await runCommand('ip', ['netns', 'exec', ns, 'ping', ...args], { timeoutMs: 120_000, allowFail: true });
  return r.stdout + r.stderr;
}

interface Host {
  ns: string;
  shortId: number;
  underlay: string;
  container: string;
  overlay: string;
  dp: OdpDatapath;
  bridge?: LearningBridge;
}

describe('ODP backend in the guest: bridged_fastdp over VXLAN', function () {
  this.timeout(300_000);
  const hosts: Host[] = [
    { ns: 'wv-odp-h1', shortId: 1, underlay: '198.18.0.1', container: 'wv-odp-c1', overlay: '10.32.0.1', dp: undefined as unknown as OdpDatapath },
    { ns: 'wv-odp-h2', shortId: 2, underlay: '198.18.0.2', container: 'wv-odp-c2', overlay: '10.32.0.2', dp: undefined as unknown as OdpDatapath },
  ];
  const namespaces = [...hosts.map((h) => h.ns), ...hosts.map((h) => h.container)];
  let capture: ChildProcess | undefined;
  const work = mkdtempSync(join(tmpdir(), 'wv-odp-'));
  const pcap = join(work, 'underlay.pcap');

  before(async function () {
    await requireOvsGuest();
    for (const ns of namespaces) ip('netns', 'add', ns);
    const [h1, h2] = hosts as [Host, Host];
    joinUnderlay(h1, h2);
    for (const h of hosts) {
      h.dp = new OdpDatapath({ logger: silentLogger(), netns: `/run/netns/${h.ns}` });
      await h.dp.start();
      ip('link', 'add', 'eth0', 'netns', h.container, 'type', 'veth', 'peer', 'name', `vethwl${h.shortId}`, 'netns', h.ns);
      ip('-n', h.ns, 'link', 'set', `vethwl${h.shortId}`, 'master', 'weave', 'up');
      ip('-n', h.container, 'addr', 'add', `${h.overlay}/12`, 'dev', 'eth0');
      ip('-n', h.container, 'link', 'set', 'eth0', 'mtu', '1376', 'up');
    }
    for (const h of hosts) {
      const other = hosts.find((o) => o !== h)!;
      const peers = new Map<number, TunnelPeer>([[other.shortId, { shortId: other.shortId, ip: other.underlay }]]);
      const bridge = new LearningBridge(
        h.dp,
        { localShortId: h.shortId, localIp: h.underlay, localPorts: [h.dp.bridgePort], vxlanPort: h.dp.vxlanVport, peers },
        silentLogger(),
      );
      h.bridge = bridge;
      h.dp.onMiss((up) => void bridge.handleMiss(up));
    }
  });

  after(async function () {
    capture?.kill();
    for (const h of hosts) if (h.dp !== undefined) await h.dp.stop().catch(() => undefined);
    for (const ns of namespaces) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not created
      }
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('builds the layout: bridge weave, datapath, vethwe-bridge/vethwe-datapath, vxlan-6784 on UDP 6784', async function () {
    for (const h of hosts) {
      const links = ip('-n', h.ns, '-o', 'link', 'show');
      for (const name of ['weave', 'datapath', 'vethwe-bridge', 'vethwe-datapath', 'vxlan-6784']) expect(links).to.include(`: ${name}`);
      const vports = await h.dp.client.listVports(h.dp.dpIfindex);
      const vx = vports.find((v) => v.name === 'vxlan-6784');
      expect(vx?.type).to.equal('vxlan');
      expect(vx?.dstPort).to.equal(6784);
      expect(vports.find((v) => v.name === 'vethwe-datapath')?.type).to.equal('netdev');
      expect(ip('-n', h.ns, '-o', 'link', 'show', 'vethwe-bridge')).to.include('master weave');
    }
  });

  it('containers ping each other through both kernel datapaths, with VNI (dst<<12)|src on the wire', async function () {
    const [h1, h2] = hosts as [Host, Host];
    capture = spawn('ip', ['netns', 'exec', h2.ns, 'tcpdump', '-U', '--immediate-mode', '-n', '-i', 'wv-u2', '-w', pcap, 'udp', 'port', '6784'], { stdio: 'ignore' });
    const deadline = Date.now() + 30_000;
    while (!existsSync(pcap) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 1500));
    const out = await pingFrom(h1.container, '-c', '3', '-i', '0.3', '-W', '10', h2.overlay);
    expect(out).to.match(/3 received/);
    await new Promise((r) => setTimeout(r, 1000));
    capture.kill('SIGINT');
    await new Promise((r) => capture!.once('exit', r));
    capture = undefined;
    const frames = vxlanFramesInPcap(pcap, 6784);
    const there = frames.filter((f) => f.srcIp === h1.underlay && f.dstIp === h2.underlay);
    const back = frames.filter((f) => f.srcIp === h2.underlay && f.dstIp === h1.underlay);
    expect(there.length, 'frames h1 -> h2').to.be.greaterThan(0);
    expect(back.length, 'frames h2 -> h1').to.be.greaterThan(0);
    expect(new Set(there.map((f) => f.vni))).to.deep.equal(new Set([weaveVni(1, 2)]));
    expect(new Set(back.map((f) => f.vni))).to.deep.equal(new Set([weaveVni(2, 1)]));
    expect(weaveVni(1, 2)).to.equal(0x2001);
    expect(there.every((f) => f.df)).to.equal(true);
  });

  it('installed flows carry the traffic, and expire once unused', async function () {
    const [h1] = hosts as [Host, Host];
    const flows = await h1.dp.dumpFlows();
    const tunnelOut = flows.find((f) => f.actions.some((a) => a.kind === 'set-tunnel'));
    expect(tunnelOut, JSON.stringify(flows, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).to.not.equal(undefined);
    const set = tunnelOut!.actions.find((a) => a.kind === 'set-tunnel');
    expect(set?.kind === 'set-tunnel' && set.tunnel.id).to.equal(BigInt(weaveVni(1, 2)));
    expect(flows.some((f) => f.key.inPort === h1.dp.vxlanVport && f.key.tunnel?.id === BigInt(weaveVni(2, 1)))).to.equal(true);
    expect(flows.reduce((n, f) => n + f.packets, 0n) > 0n, "packets counted by flows").to.equal(true);

    const first = await h1.dp.expireFlows();
    expect(first.kept.length).to.be.greaterThan(0);
    const afterClear = await h1.dp.dumpFlows();
    expect(afterClear.every((f) => f.packets === 0n && f.usedMs === undefined)).to.equal(true);
    const second = await h1.dp.expireFlows();
    expect(second.deleted.length).to.equal(afterClear.length);
    expect(await h1.dp.dumpFlows()).to.deep.equal([]);
    // With the flows gone, traffic goes back through misses and still arrives.
    expect(await pingFrom(h1.container, '-c', '1', '-W', '10', hosts[1]!.overlay)).to.match(/1 received/);
    expect((await h1.dp.dumpFlows()).length).to.be.greaterThan(0);
  });
});
