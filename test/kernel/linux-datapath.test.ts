import { expect } from 'chai';
import { silentLogger } from '../../common/logger.ts';
import { LinuxDatapath } from '../../datapath/linux-datapath.ts';
import { RtnetlinkClient } from '../../datapath/netlink/rtnetlink/client.ts';
import { datapathCompliance } from './datapath-compliance.ts';
import { TestNetns, requireRoot } from './netns-fixture.ts';
import type { IpLink } from './netns-fixture.ts';

datapathCompliance(
  'LinuxDatapath',
  async () => {
    const netns = new TestNetns('dpc');
    const datapath = new LinuxDatapath({ logger: silentLogger(), netns: netns.path });
    try {
      await datapath.start();
    } catch (err) {
      netns.destroy();
      throw err;
    }
    return { datapath, netns };
  },
  async (t) => {
    await t.datapath.stop();
    t.netns.destroy();
  },
);

describe('LinuxDatapath', function () {
  const namespaces: TestNetns[] = [];
  const started: LinuxDatapath[] = [];

  before(requireRoot);
  afterEach(async function () {
    for (const dp of started.splice(0)) await dp.stop();
    for (const ns of namespaces.splice(0)) ns.destroy();
  });

  function netns(tag: string): TestNetns {
    const ns = new TestNetns(tag);
    namespaces.push(ns);
    return ns;
  }

  async function datapathIn(ns: TestNetns): Promise<LinuxDatapath> {
    const dp = new LinuxDatapath({ logger: silentLogger(), netns: ns.path });
    await dp.start();
    started.push(dp);
    return dp;
  }

  it('rejects calls before start() and after stop()', async function () {
    const ns = netns('dps');
    const dp = new LinuxDatapath({ logger: silentLogger(), netns: ns.path });
    let caught: unknown;
    try {
      await dp.listLinks();
    } catch (err) {
      caught = err;
    }
    expect(String(caught)).to.match(/not started/);
    await dp.start();
    expect((await dp.listLinks()).map((l) => l.name)).to.deep.equal(['lo']);
    await dp.stop();
    caught = undefined;
    try {
      await dp.getLink('lo');
    } catch (err) {
      caught = err;
    }
    expect(String(caught)).to.match(/not started/);
  });

  it('operates only in its own namespace', async function () {
    const a = netns('dpa');
    const b = netns('dpb');
    const dpA = await datapathIn(a);
    await dpA.ensureBridge({ name: 'wvbr', mtu: 1400 });
    expect(a.ipJson<IpLink[]>('link').map((l) => l.ifname)).to.include('wvbr');
    expect(b.ipJson<IpLink[]>('link').map((l) => l.ifname)).to.deep.equal(['lo']);
  });

  it('concurrent ensureBridge calls converge on one bridge', async function () {
    const ns = netns('dpr');
    const dp = await datapathIn(ns);
    const results = await Promise.all([1, 2, 3, 4].map(() => dp.ensureBridge({ name: 'wvbr', mtu: 1376 })));
    expect(new Set(results.map((r) => r.index)).size).to.equal(1);
    expect(ns.ipJson<IpLink[]>('link').filter((l) => l.ifname === 'wvbr')).to.have.length(1);
  });

  it('many veths in flight at once', async function () {
    const ns = netns('dpm');
    const dp = await datapathIn(ns);
    await dp.ensureBridge({ name: 'wvbr', mtu: 1376 });
    const made = await Promise.all(
      Array.from({ length: 20 }, (_, i) => dp.createVeth({ hostName: `vh${i}`, guestName: `vg${i}`, bridge: 'wvbr', mtu: 1376 })),
    );
    expect(new Set(made.map((v) => v.host.index)).size).to.equal(20);
    const onBridge = ns.ipJson<IpLink[]>('link', 'show', 'master', 'wvbr');
    expect(onBridge).to.have.length(20);
    const deleted = await Promise.all(made.map((v) => dp.deleteLink(v.host.name)));
    expect(deleted.every((d) => d)).to.equal(true);
    expect(ns.ipJson<IpLink[]>('link').map((l) => l.ifname).sort()).to.deep.equal(['lo', 'wvbr']);
  });

  it('a guest end moved into another namespace pings the bridge', async function () {
    this.timeout(15000);
    const host = netns('dph');
    const container = netns('dpg');
    const dp = await datapathIn(host);
    await dp.ensureBridge({ name: 'wvbr', mtu: 1376 });
    await dp.createVeth({ hostName: 'vethwh', guestName: 'vethwg', bridge: 'wvbr', mtu: 1376, guestMac: '02:dd:00:00:00:01' });

    const hostRtnl = RtnetlinkClient.open({ netns: host.path });
    const guestRtnl = RtnetlinkClient.open({ netns: container.path });
    try {
      // what Docker does with the guest end: move it, address it, bring it up
      await hostRtnl.moveToNetns('vethwg', container.path);
      await hostRtnl.addAddress('wvbr', '10.32.9.1/24');
      await guestRtnl.addAddress('vethwg', '10.32.9.2/24');
      await guestRtnl.setUp('vethwg');
      await guestRtnl.setUp('lo');
    } finally {
      hostRtnl.close();
      guestRtnl.close();
    }
    const [moved] = container.ipJson<IpLink[]>('link', 'show', 'vethwg');
    expect(moved?.address).to.equal('02:dd:00:00:00:01');
    expect(moved?.mtu).to.equal(1376);
    expect(host.ipJson<IpLink[]>('link').map((l) => l.ifname)).to.not.include('vethwg');

    const out = container.exec('busybox', 'ping', '-c', '2', '-W', '2', '10.32.9.1');
    expect(out).to.match(/2 packets received/);
    // and back the other way, from the bridge's side
    const back = host.exec('busybox', 'ping', '-c', '1', '-W', '2', '10.32.9.2');
    expect(back).to.match(/1 packets received/);
  });
});
