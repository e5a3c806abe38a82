// Runs inside the QEMU guest. What Weave's start-up does with kernel state it finds: a datapath
// left by a crashed run is reused (and its stale VXLAN vports and flows replaced), and a UDP
// port somebody else holds makes the VXLAN vport fail with EADDRINUSE after the retries.
import { expect } from 'chai';
import { silentLogger } from '../../common/logger.ts';
import { OdpDatapath } from '../../datapath/odp/odp-datapath.ts';
import { OdpFastPath } from '../../datapath/odp/odp-fastpath.ts';
import { UdpSocket } from '../../datapath/datagram/udp-socket.ts';
import { FastPathUnavailableError } from '../../datapath/fastpath/contract.ts';
import { runCommand } from '../harness/run-command.ts';
import { ip, requireOvsGuest } from './guest-lab.ts';

describe('ODP datapath lifecycle in the guest', function () {
  this.timeout(120_000);
  const ns = 'wv-odp-life';
  const netns = `/run/netns/${ns}`;

  before(async function () {
    await requireOvsGuest();
    ip('netns', 'add', ns);
  });
  after(function () {
    ip('netns', 'del', ns);
  });

  it('reuses a datapath a crashed run left, replacing its VXLAN vport and flows', async function () {
    const first = new OdpDatapath({ logger: silentLogger(), netns });
    await first.start();
    const oldVxlan = (await first.client.listVports(first.dpIfindex)).find((v) => v.type === 'vxlan');
    expect(oldVxlan?.ifindex).to.be.a('number');
    const oldBridgePort = first.bridgePort;
    await first.installFlow({ key: { inPort: oldBridgePort, ethernet: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' } }, actions: [] });
    expect(await first.dumpFlows()).to.have.length(1);
    // "crash": the sockets go, the kernel objects stay
    first.client.close();

    const second = new OdpDatapath({ logger: silentLogger(), netns });
    await second.start();
    try {
      expect(second.dpIfindex).to.equal(first.dpIfindex);
      expect(second.bridgePort).to.equal(oldBridgePort);
      expect(await second.dumpFlows()).to.deep.equal([]);
      const vxlans = (await second.client.listVports(second.dpIfindex)).filter((v) => v.type === 'vxlan');
      expect(vxlans).to.have.length(1);
      // a new vport (a new netdev), not the stale one
      expect(vxlans[0]?.ifindex).to.not.equal(oldVxlan?.ifindex);
      expect(vxlans[0]?.portNo).to.equal(second.vxlanVport);
    } finally {
      await second.stop();
    }
    const links = ip('-n', ns, '-o', 'link', 'show');
    for (const gone of ['datapath', 'vethwe-bridge', 'vethwe-datapath', 'vxlan-6784']) expect(links).to.not.include(`: ${gone}`);
    expect(links).to.include(': weave');
  });

  it('makes vports added later by someone else send their misses to us', async function () {
    const dp = new OdpDatapath({ logger: silentLogger(), netns });
    const misses: number[] = [];
    dp.onMiss((up) => misses.push(up.key.inPort ?? -1));
    await dp.start();
    try {
      ip('-n', ns, 'link', 'add', 'wv-x0', 'type', 'veth', 'peer', 'name', 'wv-x1');
      const ourPid = (await dp.client.listVports(dp.dpIfindex)).find((v) => v.name === 'vethwe-datapath')?.upcallPids[0];
      expect(ourPid).to.be.greaterThan(0);
      // added with upcall PID 0: the kernel would drop its misses
      const added = await dp.client.createVport(dp.dpIfindex, { name: 'wv-x0', type: 'netdev', upcallPids: [0] });
      let pids: number[] | undefined;
      for (let i = 0; i < 50 && pids?.[0] !== ourPid; i++) {
        await new Promise((r) => setTimeout(r, 100));
        pids = (await dp.client.getVport('wv-x0'))?.upcallPids;
      }
      expect(pids).to.deep.equal([ourPid]);
      ip('-n', ns, 'link', 'set', 'wv-x0', 'up');
      ip('-n', ns, 'addr', 'add', '10.32.9.1/24', 'dev', 'wv-x1');
      ip('-n', ns, 'link', 'set', 'wv-x1', 'up');
      await runCommand('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', '10.32.9.2'], { allowFail: true, timeoutMs: 30_000 });
      expect(misses).to.include(added.portNo);
    } finally {
      await dp.stop();
      ip('-n', ns, 'link', 'del', 'wv-x1');
    }
  });

  it('refuses with FastPathUnavailableError when UDP 6784 is held by someone else', async function () {
    const holder = UdpSocket.open({ port: 6784, netns, onBatch: () => undefined });
    const fp = new OdpFastPath({ ourName: 'aa:00:00:00:00:01', logger: silentLogger(), bridge: 'weave', mtu: 1376, netns });
    try {
      let err: unknown;
      try {
        await fp.start();
      } catch (e) {
        err = e;
      }
      expect(err, 'start() should fail').to.be.instanceOf(FastPathUnavailableError);
      expect((err as Error).message).to.match(/6784/);
      // nothing half-made stays behind
      const links = ip('-n', ns, '-o', 'link', 'show');
      expect(links).to.not.include(': datapath');
    } finally {
      holder.close();
      await fp.stop();
    }
  });
});
