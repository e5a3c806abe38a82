// Compliance suite for the fast-path contract (datapath/fastpath/contract.ts). Any backend runs
// it: `fastPathCompliance('vxlan-device', (env) => new VxlanDeviceFastPath({...}))`.
//
// Two "hosts" (namespaces joined by a veth underlay, 198.19.77.0/24), each with a bridge
// `weave` (MTU 1376) and one "container" namespace on it (10.32.77.1 and .2). The suite creates
// and removes all of them; the implementation only gets its host's namespace path.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from 'winston';
import { silentLogger } from '../../common/logger.ts';
import { HEARTBEAT_HEADER } from '../../datapath/fastpath/contract.ts';
import type { FastPath } from '../../datapath/fastpath/contract.ts';
import { TestNetns, requireRoot } from './netns-fixture.ts';

const execFileP = promisify(execFile);

export interface FastPathHostEnv {
  /** Namespace path of the host (/run/netns/...). */
  netns: string;
  /** Bridge the containers are on. */
  bridge: string;
  mtu: number;
  /** Peer name of this host and of the other one. */
  ourName: string;
  underlayIp: string;
  logger: Logger;
}

export type FastPathFactory = (env: FastPathHostEnv) => FastPath | Promise<FastPath>;

const MTU = 1376;
const NAMES = ['aa:00:00:00:77:01', 'aa:00:00:00:77:02'] as const;
const UNDERLAY = ['198.19.77.1', '198.19.77.2'] as const;
const CONTAINER = ['10.32.77.1', '10.32.77.2'] as const;

interface Host {
  ns: TestNetns;
  container: TestNetns;
  fp: FastPath;
  heartbeats: { payload: Buffer; size: number }[];
}

async function ping(from: TestNetns, to: string, extra: string[] = []): Promise<boolean> {
  try {
    await execFileP('ip', ['netns', 'exec', from.name, 'ping', '-c', '2', '-i', '0.2', '-W', '1', ...extra, to]);
    return true;
  } catch {
    return false;
  }
}

async function pingCount(from: TestNetns, to: string, count: number): Promise<number> {
  const r = await execFileP('ip', ['netns', 'exec', from.name, 'ping', '-n', '-c', String(count), '-i', '0.2', '-W', '1', to]).catch(
    (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
  );
  const m = /(\d+) received/.exec(r.stdout);
  return Number(m?.[1] ?? 0);
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

export function fastPathCompliance(name: string, make: FastPathFactory): void {
  describe(`fast-path contract: ${name}`, function () {
    this.timeout(30000);
    const hosts: Host[] = [];

    before(async () => {
      requireRoot();
      try {
        for (let i = 0; i < 2; i++) {
          const ns = new TestNetns(`fp${i + 1}`);
          const container = new TestNetns(`fc${i + 1}`);
          hosts.push({ ns, container, fp: undefined as unknown as FastPath, heartbeats: [] });
          ns.ip('link', 'set', 'lo', 'up');
          ns.ip('link', 'add', 'weave', 'mtu', String(MTU), 'type', 'bridge');
          ns.ip('link', 'set', 'weave', 'up');
          ns.ip('link', 'add', 'vethc', 'mtu', String(MTU), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', container.name);
          ns.ip('link', 'set', 'vethc', 'master', 'weave', 'up');
          container.ip('link', 'set', 'lo', 'up');
          container.ip('addr', 'add', `${CONTAINER[i]}/24`, 'dev', 'eth0');
          container.ip('link', 'set', 'eth0', 'up');
        }
        const [a, b] = [hosts[0]!, hosts[1]!];
        a.ns.ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b.ns.name);
        for (let i = 0; i < 2; i++) {
          const h = hosts[i]!;
          h.ns.ip('addr', 'add', `${UNDERLAY[i]}/24`, 'dev', 'eth0');
          h.ns.ip('link', 'set', 'eth0', 'up');
        }
        for (let i = 0; i < 2; i++) {
          const h = hosts[i]!;
          h.fp = await make({ netns: h.ns.path, bridge: 'weave', mtu: MTU, ourName: NAMES[i]!, underlayIp: UNDERLAY[i]!, logger: silentLogger() });
          h.fp.onHeartbeat((payload, size) => h.heartbeats.push({ payload: Buffer.from(payload), size }));
          await h.fp.start();
        }
        await a.fp.addPeer(NAMES[1], UNDERLAY[1]);
        await b.fp.addPeer(NAMES[0], UNDERLAY[0]);
      } catch (err) {
        for (const h of hosts) {
          await h.fp?.stop().catch(() => undefined);
          h.container.destroy();
          h.ns.destroy();
        }
        throw err;
      }
    });

    after(async () => {
      for (const h of hosts) {
        await h.fp?.stop().catch(() => undefined);
        h.container.destroy();
        h.ns.destroy();
      }
    });

    async function heartbeatArrives(from: number, size: number, ms = 1500): Promise<boolean> {
      const to = hosts[1 - from]!;
      const tag = Buffer.from(`hb-${from}-${size}-${Math.random()}`);
      const seen = (): boolean => to.heartbeats.some((h) => h.payload.subarray(0, tag.length).equals(tag) && h.size === size);
      // a lost heartbeat is normal (ARP for the underlay at first): try a few times
      const end = Date.now() + ms;
      while (Date.now() < end) {
        expect(hosts[from]!.fp.sendHeartbeat(NAMES[1 - from]!, tag, size)).to.equal(true);
        if (await waitFor(seen, 200)) return true;
      }
      return false;
    }

    it('reports its MTU and UDP port', () => {
      for (const h of hosts) {
        expect(h.fp.mtu).to.equal(MTU);
        expect(h.fp.udpPort).to.equal(6784);
      }
    });

    it('carries full-MTU heartbeats both ways before any forwarding, padding included', async () => {
      expect(await heartbeatArrives(0, HEARTBEAT_HEADER + MTU)).to.equal(true);
      expect(await heartbeatArrives(1, HEARTBEAT_HEADER + MTU)).to.equal(true);
      const last = hosts[1]!.heartbeats.at(-1)!;
      expect(last.payload.length).to.equal(MTU);
      expect(last.payload.subarray(64).every((x) => x === 0)).to.equal(true);
    });

    it('carries no container frames to a peer it does not forward to', async () => {
      expect(await ping(hosts[0]!.container, CONTAINER[1])).to.equal(false);
    });

    it('carries container frames once both ends forward, full MTU with DF, over UDP 6784', async () => {
      await hosts[0]!.fp.setForwarding(NAMES[1], true);
      await hosts[1]!.fp.setForwarding(NAMES[0], true);
      expect(hosts[0]!.fp.forwarding(NAMES[1])).to.equal(true);
      const before = udpPackets(hosts[0]!.ns);
      expect(await ping(hosts[0]!.container, CONTAINER[1])).to.equal(true);
      expect(await ping(hosts[0]!.container, CONTAINER[1], ['-M', 'do', '-s', String(MTU - 28)])).to.equal(true);
      expect(udpPackets(hosts[0]!.ns) - before).to.be.greaterThan(4);
    });

    it('stops carrying container frames when forwarding is turned off, heartbeats still pass', async () => {
      await hosts[0]!.fp.setForwarding(NAMES[1], false);
      await hosts[1]!.fp.setForwarding(NAMES[0], false);
      expect(hosts[0]!.fp.forwarding(NAMES[1])).to.equal(false);
      // no stale learned entry may keep unicast flowing either
      expect(await ping(hosts[0]!.container, CONTAINER[1])).to.equal(false);
      expect(await heartbeatArrives(0, HEARTBEAT_HEADER + MTU)).to.equal(true);
    });

    it('forgets container MACs behind a peer it does not forward to within ~1 s, also ones that arrived after the switch', async () => {
      const [a, b] = [hosts[0]!, hosts[1]!];
      await a.fp.setForwarding(NAMES[1], true);
      await b.fp.setForwarding(NAMES[0], true);
      expect(await ping(a.container, CONTAINER[1])).to.equal(true);
      // host1 gives up first; host2 still sends for a moment (the ends switch a moment apart)
      await a.fp.setForwarding(NAMES[1], false);
      await pingCount(b.container, CONTAINER[0], 5);
      await b.fp.setForwarding(NAMES[0], false);
      await new Promise((r) => setTimeout(r, 1500));
      // host1's unicast to host2's container must not leave by the kernel path any more
      const before = udpPackets(a.ns);
      await pingCount(a.container, CONTAINER[1], 5);
      expect(udpPackets(a.ns) - before, 'packets host1 sent on its underlay').to.be.at.most(1);
    });

    it('loses full-MTU heartbeats on an underlay too small for them, smaller ones pass', async () => {
      for (const h of hosts) h.ns.ip('link', 'set', 'eth0', 'mtu', '1400');
      try {
        expect(await heartbeatArrives(0, HEARTBEAT_HEADER + MTU, 1000)).to.equal(false);
        expect(await heartbeatArrives(0, 600)).to.equal(true);
      } finally {
        for (const h of hosts) h.ns.ip('link', 'set', 'eth0', 'mtu', '1500');
      }
      expect(await heartbeatArrives(0, HEARTBEAT_HEADER + MTU)).to.equal(true);
    });

    it('removePeer stops heartbeats to it; stop() removes its devices and leaves the bridge', async () => {
      await hosts[0]!.fp.removePeer(NAMES[1]);
      expect(hosts[0]!.fp.sendHeartbeat(NAMES[1], Buffer.from('x'), 100)).to.equal(false);
      const linksBefore = linkNames(hosts[0]!.ns);
      await hosts[0]!.fp.stop();
      const linksAfter = linkNames(hosts[0]!.ns);
      expect(linksAfter).to.include.members(['weave', 'vethc', 'eth0', 'lo']);
      expect(linksAfter.length).to.equal(4, `left behind: ${linksAfter.join(', ')} (had ${linksBefore.join(', ')})`);
    });
  });
}

function linkNames(ns: TestNetns): string[] {
  return ns.ipJson<{ ifname: string }[]>('link', 'show').map((l) => l.ifname);
}

/** Packets the host sent on its underlay (eth0): encapsulated frames, heartbeats, ARP. */
function udpPackets(ns: TestNetns): number {
  const [link] = ns.ipJson<{ stats64: { tx: { packets: number } } }[]>('-s', 'link', 'show', 'eth0');
  return link!.stats64.tx.packets;
}
