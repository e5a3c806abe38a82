// Contract tests every Datapath implementation must pass. `setup` returns a started datapath
// operating in a fresh namespace plus a way to inspect that namespace.
import { expect } from 'chai';
import type { Datapath } from '../../datapath/contract.ts';
import type { IpLink, TestNetns } from './netns-fixture.ts';

export interface ComplianceTarget {
  datapath: Datapath;
  netns: TestNetns;
}

export function datapathCompliance(name: string, setup: () => Promise<ComplianceTarget>, teardown: (t: ComplianceTarget) => Promise<void>): void {
  describe(`Datapath contract: ${name}`, function () {
    let t: ComplianceTarget | undefined;
    const target = (): ComplianceTarget => {
      if (t === undefined) throw new Error('setup failed');
      return t;
    };

    before(async function () {
      t = await setup();
    });
    after(async function () {
      if (t !== undefined) await teardown(t);
    });

    it('ensureBridge creates a bridge with MTU and MAC, up', async function () {
      const { datapath, netns } = target();
      const info = await datapath.ensureBridge({ name: 'wvbr', mtu: 1376, mac: '02:aa:00:00:00:01' });
      expect(info).to.include({ name: 'wvbr', kind: 'bridge', mtu: 1376, mac: '02:aa:00:00:00:01', up: true });
      const [link] = netns.ipJson<IpLink[]>('-d', 'link', 'show', 'wvbr');
      expect(link?.linkinfo?.info_kind).to.equal('bridge');
      expect(link?.mtu).to.equal(1376);
      expect(link?.address).to.equal('02:aa:00:00:00:01');
      expect(link?.flags).to.include('UP');
      expect(link?.ifindex).to.equal(info.index);
    });

    it('ensureBridge is idempotent, keeps the MAC, re-applies MTU and up', async function () {
      const { datapath, netns } = target();
      netns.ip('link', 'set', 'wvbr', 'down', 'mtu', '1400');
      const before = netns.ipJson<IpLink[]>('link', 'show', 'wvbr')[0];
      const info = await datapath.ensureBridge({ name: 'wvbr', mtu: 1376, mac: '02:bb:00:00:00:02' });
      expect(info.index).to.equal(before?.ifindex);
      expect(info.mac).to.equal('02:aa:00:00:00:01');
      expect(info.mtu).to.equal(1376);
      expect(info.up).to.equal(true);
      const [link] = netns.ipJson<IpLink[]>('link', 'show', 'wvbr');
      expect(link?.mtu).to.equal(1376);
      expect(link?.flags).to.include('UP');
      const all = await datapath.listLinks();
      expect(all.filter((l) => l.name === 'wvbr')).to.have.length(1);
    });

    it('ensureBridge refuses a non-bridge link of that name', async function () {
      const { datapath, netns } = target();
      netns.ip('link', 'add', 'notbr', 'type', 'veth', 'peer', 'name', 'notbr-p');
      let caught: unknown;
      try {
        await datapath.ensureBridge({ name: 'notbr', mtu: 1376 });
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(Error);
      expect(String(caught)).to.match(/not a bridge/);
    });

    it('createVeth creates the pair with MTU, guest MAC, host end on the bridge and up', async function () {
      const { datapath, netns } = target();
      const bridge = await datapath.ensureBridge({ name: 'wvbr', mtu: 1376 });
      const veth = await datapath.createVeth({ hostName: 'vethwh1', guestName: 'vethwg1', bridge: 'wvbr', mtu: 1376, guestMac: '02:cc:00:00:00:03' });
      expect(veth.host).to.include({ name: 'vethwh1', kind: 'veth', mtu: 1376, up: true, masterIndex: bridge.index });
      expect(veth.guest).to.include({ name: 'vethwg1', kind: 'veth', mtu: 1376, mac: '02:cc:00:00:00:03', up: false });
      expect(veth.guest.masterIndex).to.equal(undefined);
      const [host] = netns.ipJson<IpLink[]>('-d', 'link', 'show', 'vethwh1');
      expect(host?.master).to.equal('wvbr');
      expect(host?.flags).to.include('UP');
      expect(host?.mtu).to.equal(1376);
      const [guest] = netns.ipJson<IpLink[]>('link', 'show', 'vethwg1');
      expect(guest?.address).to.equal('02:cc:00:00:00:03');
      expect(guest?.flags).to.not.include('UP');
      // the bridge keeps its configured MTU with a port attached
      expect(netns.ipJson<IpLink[]>('link', 'show', 'wvbr')[0]?.mtu).to.equal(1376);
    });

    it('createVeth without guestMac lets the kernel pick one', async function () {
      const { datapath } = target();
      const veth = await datapath.createVeth({ hostName: 'vethwh2', guestName: 'vethwg2', bridge: 'wvbr', mtu: 1376 });
      expect(veth.guest.mac).to.match(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      expect(veth.guest.mac).to.not.equal(veth.host.mac);
    });

    it('createVeth fails with EEXIST when the host end exists, and leaves it alone', async function () {
      const { datapath, netns } = target();
      const before = netns.ipJson<IpLink[]>('link', 'show', 'vethwh1')[0];
      let caught: { code?: string } | undefined;
      try {
        await datapath.createVeth({ hostName: 'vethwh1', guestName: 'vethwg9', bridge: 'wvbr', mtu: 1376 });
      } catch (err) {
        caught = err as { code?: string };
      }
      expect(caught?.code).to.equal('EEXIST');
      expect(netns.ipJson<IpLink[]>('link', 'show', 'vethwh1')[0]?.ifindex).to.equal(before?.ifindex);
      expect(netns.ipJson<IpLink[]>('link').map((l) => l.ifname)).to.not.include('vethwg9');
    });

    it('createVeth fails when the bridge does not exist', async function () {
      const { datapath, netns } = target();
      let caught: { code?: string } | undefined;
      try {
        await datapath.createVeth({ hostName: 'vethwh3', guestName: 'vethwg3', bridge: 'nobridge', mtu: 1376 });
      } catch (err) {
        caught = err as { code?: string };
      }
      expect(caught?.code).to.equal('ENODEV');
      expect(netns.ipJson<IpLink[]>('link').map((l) => l.ifname)).to.not.include('vethwh3');
    });

    it('getLink and listLinks agree with the kernel', async function () {
      const { datapath, netns } = target();
      const kernel = netns.ipJson<IpLink[]>('link');
      const ours = await datapath.listLinks();
      expect(ours.map((l) => l.name).sort()).to.deep.equal(kernel.map((l) => l.ifname).sort());
      for (const k of kernel) {
        const l = await datapath.getLink(k.ifname);
        expect(l?.index).to.equal(k.ifindex);
        expect(l?.mtu).to.equal(k.mtu);
        expect(l?.mac).to.equal(k.address);
        expect(l?.up).to.equal(k.flags.includes('UP'));
      }
      expect(await datapath.getLink('nosuchlink')).to.equal(undefined);
    });

    it('ensureAddress puts a /32 on the bridge once; removeAddress takes it off, idempotently', async function () {
      const { datapath, netns } = target();
      await datapath.ensureBridge({ name: 'wvbr', mtu: 1376 });
      await datapath.ensureAddress('wvbr', '169.254.53.53/32');
      await datapath.ensureAddress('wvbr', '169.254.53.53/32');
      const addrs = (): string[] =>
        netns.ipJson<{ addr_info: { family: string; local: string; prefixlen: number }[] }[]>('addr', 'show', 'wvbr')[0]!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
      expect(addrs()).to.deep.equal(['169.254.53.53/32']);
      expect(await datapath.removeAddress('wvbr', '169.254.53.53/32')).to.equal(true);
      expect(await datapath.removeAddress('wvbr', '169.254.53.53/32')).to.equal(false);
      expect(addrs()).to.deep.equal([]);
    });

    it('ensureHostPort makes a bridge port and a host end carrying the address, once; removeHostPort takes both away, idempotently', async function () {
      const { datapath, netns } = target();
      await datapath.ensureBridge({ name: 'wvbr', mtu: 1376 });
      const spec = { bridge: 'wvbr', port: 'vethwex0a200000', hostName: 'weavex0a200000', mtu: 1376, cidr: '10.32.0.5/16' };
      await datapath.ensureHostPort(spec);
      await datapath.ensureHostPort(spec);
      const link = (name: string): IpLink | undefined => netns.ipJson<IpLink[]>('link').find((l) => l.ifname === name);
      const addrs = (): string[] =>
        netns.ipJson<{ addr_info: { family: string; local: string; prefixlen: number }[] }[]>('addr', 'show', spec.hostName)[0]!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
      expect(link(spec.port)).to.deep.include({ master: 'wvbr', mtu: 1376 });
      expect(link(spec.port)!.flags).to.include('UP');
      expect(link(spec.hostName)?.master).to.equal(undefined);
      expect(link(spec.hostName)!.flags).to.include('UP');
      expect(addrs()).to.deep.equal(['10.32.0.5/16']);
      // the subnet is on-link through the host end, so the host reaches the network's members
      expect(netns.ip('route', 'show', '10.32.0.0/16')).to.contain(`dev ${spec.hostName}`);
      // the bridge answers ARP for its own addresses only, not for the host port's
      expect(netns.exec('cat', '/proc/sys/net/ipv4/conf/wvbr/arp_ignore').trim()).to.equal('1');

      // repaired: the pair deleted by hand (one end takes the other with it), a stray address, a port set down
      netns.ip('link', 'del', spec.hostName);
      await datapath.ensureHostPort(spec);
      expect(addrs()).to.deep.equal(['10.32.0.5/16']);
      netns.ip('addr', 'add', '10.32.0.9/16', 'dev', spec.hostName);
      netns.ip('link', 'set', spec.port, 'down');
      await datapath.ensureHostPort(spec);
      expect(addrs()).to.deep.equal(['10.32.0.5/16']);
      expect(link(spec.port)!.flags).to.include('UP');

      expect(await datapath.removeHostPort(spec.port)).to.equal(true);
      expect(link(spec.port)).to.equal(undefined);
      expect(link(spec.hostName)).to.equal(undefined);
      expect(await datapath.removeHostPort(spec.port)).to.equal(false);
    });

    it('deleteLink removes the pair and is idempotent', async function () {
      const { datapath, netns } = target();
      expect(await datapath.deleteLink('vethwh2')).to.equal(true);
      const names = netns.ipJson<IpLink[]>('link').map((l) => l.ifname);
      expect(names).to.not.include('vethwh2');
      expect(names).to.not.include('vethwg2');
      expect(await datapath.deleteLink('vethwh2')).to.equal(false);
      expect(await datapath.getLink('vethwh2')).to.equal(undefined);
    });
  });
}
