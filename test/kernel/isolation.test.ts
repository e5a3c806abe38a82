// The bridge isolation rules in a real kernel: three "containers" (namespaces with a veth on the
// bridge) in two networks; what crosses and what does not, including forged sources, ARP for
// the other network's addresses and multicast where it is turned off.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { silentLogger } from '../../common/logger.ts';
import { LinuxDatapath } from '../../datapath/linux-datapath.ts';
import { TestNetns, requireRoot, run } from './netns-fixture.ts';

const execFileP = promisify(execFile);

async function pings(ns: TestNetns, ip: string, source?: string): Promise<boolean> {
  const args = ['netns', 'exec', ns.name, 'ping', '-n', '-c', '1', '-W', '1', ...(source === undefined ? [] : ['-I', source]), ip];
  return execFileP('ip', args).then(
    () => true,
    () => false,
  );
}

describe('bridge isolation between networks (root)', function () {
  this.timeout(60_000);
  let host: TestNetns;
  let dp: LinuxDatapath;
  const guests = new Map<string, TestNetns>();
  const net = {
    a: { subnets: ['10.41.0.0/24'], multicast: true, ports: ['va1', 'va2'] },
    b: { subnets: ['10.42.0.0/24'], multicast: false, ports: ['vb1', 'vb2'] },
  };

  before(async function () {
    requireRoot();
    host = new TestNetns('iso');
    dp = new LinuxDatapath({ logger: silentLogger(), netns: host.path });
    await dp.start();
    await dp.ensureBridge({ name: 'weave', mtu: 1376 });
    const addrs: Record<string, string> = { va1: '10.41.0.1/24', va2: '10.41.0.2/24', vb1: '10.42.0.1/24', vb2: '10.42.0.2/24' };
    for (const [port, cidr] of Object.entries(addrs)) {
      const g = new TestNetns(port);
      guests.set(port, g);
      await dp.createVeth({ hostName: port, guestName: `g${port}`, bridge: 'weave', mtu: 1376 });
      host.ip('link', 'set', `g${port}`, 'netns', g.name);
      g.ip('link', 'set', `g${port}`, 'name', 'eth0');
      g.ip('addr', 'add', cidr, 'dev', 'eth0');
      g.ip('link', 'set', 'eth0', 'up');
      g.ip('route', 'add', '224.0.0.0/4', 'dev', 'eth0');
    }
    await dp.applyIsolation([net.a, net.b]);
  });

  after(async function () {
    await dp?.stop();
    for (const g of guests.values()) g.destroy();
    host?.destroy();
  });

  const g = (port: string): TestNetns => guests.get(port)!;

  it('turns IGMP snooping off on the bridge, so multicast floods to the overlay ports', function () {
    expect(run('ip', ['netns', 'exec', host.name, 'cat', '/sys/class/net/weave/bridge/multicast_snooping']).trim()).to.equal('0');
  });

  it('makes the bridge answer ARP only for its own addresses (arp_ignore 1), for every network it sees', function () {
    expect(run('ip', ['netns', 'exec', host.name, 'cat', '/proc/sys/net/ipv4/conf/weave/arp_ignore']).trim()).to.equal('1');
  });

  it('lets containers of one network talk', async function () {
    expect(await pings(g('va1'), '10.41.0.2')).to.equal(true);
    expect(await pings(g('vb2'), '10.42.0.1')).to.equal(true);
  });

  it('keeps another network out, also with a forged source address in its subnet', async function () {
    g('va1').ip('addr', 'add', '10.42.0.99/24', 'dev', 'eth0');
    try {
      expect(await pings(g('va1'), '10.42.0.1', '10.42.0.99')).to.equal(false);
      expect(await pings(g('va1'), '10.42.0.2')).to.equal(false);
    } finally {
      g('va1').ip('addr', 'del', '10.42.0.99/24', 'dev', 'eth0');
    }
  });

  it('does not answer ARP for the other network\'s addresses', async function () {
    // An on-link route makes va2 ARP for b's address from its own (valid) source.
    g('va2').ip('route', 'add', '10.42.0.0/24', 'dev', 'eth0');
    try {
      expect(await pings(g('va2'), '10.42.0.1')).to.equal(false);
      const neigh = g('va2').ipJson<{ dst: string; lladdr?: string; state?: string[] }[]>('neigh', 'show', '10.42.0.1');
      expect(neigh.filter((n) => n.lladdr !== undefined)).to.deep.equal([]);
    } finally {
      g('va2').ip('route', 'del', '10.42.0.0/24', 'dev', 'eth0');
    }
  });

  it('replaces the policy as a whole: a port moved to the other network follows it', async function () {
    await dp.applyIsolation([{ ...net.a, ports: ['va1'] }, { ...net.b, ports: ['vb1', 'vb2', 'va2'] }]);
    try {
      expect(await pings(g('va1'), '10.41.0.2')).to.equal(false);
    } finally {
      await dp.applyIsolation([net.a, net.b]);
    }
    expect(await pings(g('va1'), '10.41.0.2')).to.equal(true);
  });

  it('drops multicast on a network that turned it off, and only there', async function () {
    const ruleset = run('ip', ['netns', 'exec', host.name, 'nft', 'list', 'table', 'bridge', 'weave']);
    expect(ruleset).to.match(/chain net-10\.42\.0\.0-24 \{\s*ip daddr 224\.0\.0\.0\/4 drop/);
    expect(ruleset).to.not.match(/chain net-10\.41\.0\.0-24 \{\s*ip daddr 224/);
    expect(ruleset).to.include('"va1" : jump net-10.41.0.0-24');
  });

  // Found by test/fuzz: the whole policy is one nf_tables transaction, and past ~150 networks
  // it outgrew the socket's send buffer (EMSGSIZE), past ~900 ports the one message listing
  // them (a netlink attribute's 16-bit length): from then on no container could be added.
  it('installs the policy of 1000 networks and 4000 ports, and keeps containers apart after', async function () {
    const many = Array.from({ length: 1000 }, (_, i) => ({
      subnets: [`10.${100 + (i >> 8)}.${i & 255}.0/24`],
      multicast: i % 2 === 0,
      ports: Array.from({ length: 4 }, (_, j) => `vethwl${(i * 4 + j).toString(16).padStart(9, '0')}`),
    }));
    try {
      await dp.applyIsolation([net.a, net.b, ...many]);
      const ports = run('ip', ['netns', 'exec', host.name, 'nft', 'list', 'map', 'bridge', 'weave', 'ports']);
      expect(ports.match(/: jump net-/g)?.length).to.equal(4004);
      expect(await pings(g('va1'), '10.41.0.2')).to.equal(true);
      expect(await pings(g('va1'), '10.42.0.2')).to.equal(false);
    } finally {
      await dp.applyIsolation([net.a, net.b]);
    }
  });
});
