// RtnetlinkClient against the kernel, checked with iproute2's JSON output.
import { expect } from 'chai';
import fs from 'node:fs';
import { RtnetlinkClient } from '../../datapath/netlink/rtnetlink/client.ts';
import { NetlinkError } from '../../datapath/netlink/netlink-error.ts';
import { AF_INET, AF_INET6, NTF_SELF, RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK } from '../../datapath/netlink/rtnetlink/constants.ts';
import { decodeLink, encodeLinkSelector } from '../../datapath/netlink/rtnetlink/link.ts';
import { NetlinkSocket } from '../../datapath/netlink/socket.ts';
import { NETLINK_ROUTE } from '../../datapath/netlink/constants.ts';
import { TestNetns, requireRoot } from './netns-fixture.ts';
import type { IpLink } from './netns-fixture.ts';

async function rejection(p: Promise<unknown>): Promise<NetlinkError> {
  try {
    await p;
  } catch (err) {
    return err as NetlinkError;
  }
  throw new Error('expected a rejection');
}

describe('rtnetlink client (kernel)', function () {
  let ns: TestNetns;
  let other: TestNetns;
  let rtnl: RtnetlinkClient;

  before(function () {
    requireRoot();
    ns = new TestNetns('rt');
    other = new TestNetns('rt2');
    rtnl = RtnetlinkClient.open({ netns: ns.path });
  });
  after(function () {
    rtnl?.close();
    ns?.destroy();
    other?.destroy();
  });

  const link = (name: string): IpLink | undefined => ns.ipJson<IpLink[]>('-d', 'link', 'show').find((l) => l.ifname === name);

  describe('links', function () {
    it('creates a bridge with MTU and MAC, and a duplicate fails with EEXIST', async function () {
      await rtnl.createBridge('br0', { mtu: 1410, mac: '02:10:00:00:00:01', up: true });
      const l = link('br0');
      expect(l?.linkinfo?.info_kind).to.equal('bridge');
      expect(l?.mtu).to.equal(1410);
      expect(l?.address).to.equal('02:10:00:00:00:01');
      expect(l?.flags).to.include('UP');
      const err = await rejection(rtnl.createBridge('br0'));
      expect(err).to.be.instanceOf(NetlinkError);
      expect(err.code).to.equal('EEXIST');
      expect(err.errno).to.equal(17);
    });

    it('creates a veth pair and reads both ends back', async function () {
      await rtnl.createVeth('va', { mtu: 1400, mac: '02:10:00:00:00:0a' }, { name: 'vb', mtu: 1400, mac: '02:10:00:00:00:0b' });
      const a = await rtnl.getLink('va');
      const b = await rtnl.getLink('vb');
      expect(a).to.deep.include({ name: 'va', kind: 'veth', mtu: 1400, mac: '02:10:00:00:00:0a', up: false, linkIndex: b?.index });
      expect(b).to.deep.include({ name: 'vb', kind: 'veth', mac: '02:10:00:00:00:0b', linkIndex: a?.index });
      expect(link('va')?.ifindex).to.equal(a?.index);
      expect(await rtnl.getLink(a!.index)).to.deep.equal(a);
    });

    it('sets MTU, MAC, up/down, master and nomaster', async function () {
      await rtnl.setLink('va', { mtu: 1300, mac: '02:10:00:00:00:aa' });
      await rtnl.setUp('va');
      await rtnl.setMaster('va', 'br0');
      let l = link('va');
      expect(l?.mtu).to.equal(1300);
      expect(l?.address).to.equal('02:10:00:00:00:aa');
      expect(l?.flags).to.include('UP');
      expect(l?.master).to.equal('br0');
      const parsed = await rtnl.getLink('va');
      expect(parsed?.masterIndex).to.equal(link('br0')?.ifindex);
      expect(parsed?.slaveKind).to.equal('bridge');
      await rtnl.setMaster('va', null);
      await rtnl.setUp('va', false);
      l = link('va');
      expect(l?.master).to.equal(undefined);
      expect(l?.flags).to.not.include('UP');
      expect((await rtnl.getLink('va'))?.masterIndex).to.equal(undefined);
    });

    it('creates a vxlan device with VNI, local, port, learning off, underlay dev', async function () {
      const va = await rtnl.getLink('va');
      await rtnl.createVxlan('vx0', { vni: 4242, local: '198.18.0.1', port: 6784, learning: false, dev: va!.index, mtu: 1200 });
      const l = link('vx0') as IpLink & { linkinfo: { info_data: Record<string, unknown> } };
      expect(l.linkinfo.info_kind).to.equal('vxlan');
      expect(l.linkinfo.info_data).to.include({ id: 4242, local: '198.18.0.1', port: 6784, learning: false, link: 'va' });
      expect(l.mtu).to.equal(1200);
      const parsed = await rtnl.getLink('vx0');
      expect(parsed?.vxlan).to.deep.include({ vni: 4242, local: '198.18.0.1', port: 6784, learning: false, dev: va!.index, external: false });
    });

    it('creates an external (collect_metadata) vxlan device', async function () {
      await rtnl.createVxlan('vxext', { external: true, port: 6785, learning: false });
      const l = link('vxext') as IpLink & { linkinfo: { info_data: Record<string, unknown> } };
      expect(l.linkinfo.info_data.external).to.equal(true);
      expect((await rtnl.getLink('vxext'))?.vxlan?.external).to.equal(true);
      await rtnl.deleteLink('vxext');
    });

    it('creates a veth whose peer is born in another namespace, and moves a link there', async function () {
      await rtnl.createVeth('vc', { mtu: 1400 }, { name: 'vd', mtu: 1400, netns: other.path });
      expect(link('vc')).to.not.equal(undefined);
      expect(link('vd')).to.equal(undefined);
      expect(other.ipJson<IpLink[]>('link').map((l) => l.ifname)).to.include('vd');
      await rtnl.moveToNetns('vb', other.path);
      expect(link('vb')).to.equal(undefined);
      expect(other.ipJson<IpLink[]>('link').map((l) => l.ifname)).to.include('vb');
      // the same by fd, which the caller owns and keeps
      const fd = fs.openSync(other.path, 'r');
      try {
        await rtnl.createVeth('ve', {}, { name: 'vf', netns: fd });
        await rtnl.createVeth('vmove', {}, { name: 'vmove-p' });
        await rtnl.moveToNetns('vmove', fd);
        fs.fstatSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      const there = other.ipJson<IpLink[]>('link').map((l) => l.ifname);
      expect(there).to.include('vf');
      expect(there).to.include('vmove');
      expect(link('vmove')).to.equal(undefined);
      expect(link('vmove-p')).to.not.equal(undefined);
    });

    it('lists all links in one dump, even many (multi-datagram dumps)', async function () {
      this.timeout(10000);
      await Promise.all(Array.from({ length: 60 }, (_, i) => rtnl.createVeth(`m${i}a`, {}, { name: `m${i}b` })));
      const ours = await rtnl.listLinks();
      const kernel = ns.ipJson<IpLink[]>('link');
      expect(ours.length).to.equal(kernel.length);
      expect(ours.map((l) => l.name).sort()).to.deep.equal(kernel.map((l) => l.ifname).sort());
      for (const k of kernel) {
        const o = ours.find((l) => l.index === k.ifindex);
        expect(o?.name).to.equal(k.ifname);
        expect(o?.mac).to.equal(k.address);
      }
      await Promise.all(Array.from({ length: 60 }, (_, i) => rtnl.deleteLink(`m${i}a`)));
      expect(ns.ipJson<IpLink[]>('link').filter((l) => l.ifname.startsWith('m'))).to.have.length(0);
    });

    it('delivers link notifications to a socket that joined RTNLGRP_LINK', async function () {
      const RTNLGRP_LINK = 1;
      const sock = NetlinkSocket.open(NETLINK_ROUTE, { netns: ns.path });
      const seen: { type: number; name: string }[] = [];
      try {
        sock.addMembership(RTNLGRP_LINK);
        let wake: () => void = () => undefined;
        sock.onNotification((m) => {
          if (m.type === RTM_NEWLINK || m.type === RTM_DELLINK) seen.push({ type: m.type, name: decodeLink(m.payload).name });
          wake();
        });
        await rtnl.createBridge('brnote');
        await rtnl.deleteLink('brnote');
        const deadline = Date.now() + 2000;
        while (!seen.some((s) => s.type === RTM_DELLINK) && Date.now() < deadline) {
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, 50);
          });
        }
      } finally {
        sock.close();
      }
      expect(seen.filter((s) => s.name === 'brnote').map((s) => s.type)).to.include.members([RTM_NEWLINK, RTM_DELLINK]);
    });

    it('reports ENOBUFS when notifications overrun a small receive buffer', async function () {
      const RTNLGRP_LINK = 1;
      const sock = NetlinkSocket.open(NETLINK_ROUTE, { netns: ns.path, receiveBufferBytes: 4096 });
      const errors: string[] = [];
      try {
        sock.addMembership(RTNLGRP_LINK);
        sock.onNotification(() => undefined);
        sock.onError((e) => errors.push(e.code));
        // iproute2 runs synchronously, so our loop cannot read while the events pile up
        for (let i = 0; i < 20; i++) ns.ip('link', 'add', `ob${i}`, 'type', 'bridge');
        await new Promise((r) => setTimeout(r, 100));
        // the socket is still usable after the overrun
        const replies = await sock.request(RTM_GETLINK, 0, encodeLinkSelector('ob0'));
        expect(replies).to.have.length(1);
      } finally {
        sock.close();
        for (let i = 0; i < 20; i++) ns.ip('link', 'del', `ob${i}`);
      }
      expect(errors).to.include('ENOBUFS');
    });

    it('deletes by name and by index; a missing link is ENODEV; getLink of a missing one is undefined', async function () {
      await rtnl.createBridge('brdel');
      const idx = (await rtnl.getLink('brdel'))!.index;
      await rtnl.deleteLink(idx);
      expect(link('brdel')).to.equal(undefined);
      expect((await rejection(rtnl.deleteLink('brdel'))).code).to.equal('ENODEV');
      expect(await rtnl.getLink('brdel')).to.equal(undefined);
      expect(await rtnl.getLink(99999)).to.equal(undefined);
    });

    it('reports the kernel’s extended ack text', async function () {
      const err = await rejection(rtnl.createVxlan('vxbad', { vni: 1 << 24 }));
      expect(err.code).to.equal('ERANGE');
      expect(err.extack).to.be.a('string').and.not.equal('');
    });
  });

  describe('addresses', function () {
    it('adds, lists and deletes IPv4 and IPv6 addresses', async function () {
      await rtnl.addAddress('br0', '10.32.0.1/12');
      await rtnl.addAddress('br0', 'fd32::1/64');
      const kernel = ns.ipJson<{ ifname: string; addr_info: { family: string; local: string; prefixlen: number; broadcast?: string }[] }[]>('addr', 'show', 'dev', 'br0');
      const info = kernel[0]?.addr_info ?? [];
      expect(info.find((a) => a.family === 'inet')).to.include({ local: '10.32.0.1', prefixlen: 12, broadcast: '10.47.255.255' });
      expect(info.find((a) => a.family === 'inet6' && a.local === 'fd32::1')?.prefixlen).to.equal(64);

      const ours = await rtnl.listAddresses('br0');
      expect(ours.find((a) => a.family === AF_INET)).to.include({ address: '10.32.0.1', prefixLength: 12, cidr: '10.32.0.1/12', label: 'br0' });
      expect(ours.find((a) => a.family === AF_INET6 && a.address === 'fd32::1')?.prefixLength).to.equal(64);
      expect((await rejection(rtnl.addAddress('br0', '10.32.0.1/12'))).code).to.equal('EEXIST');
      await rtnl.addAddress('br0', '10.32.0.1/12', { replace: true });

      await rtnl.deleteAddress('br0', '10.32.0.1/12');
      await rtnl.deleteAddress('br0', 'fd32::1/64');
      const after = ns.ipJson<{ addr_info: { local: string }[] }[]>('addr', 'show', 'dev', 'br0')[0]?.addr_info.map((a) => a.local) ?? [];
      expect(after).to.not.include('10.32.0.1');
      expect(after).to.not.include('fd32::1');
      expect((await rejection(rtnl.deleteAddress('br0', '10.32.0.1/12'))).code).to.equal('EADDRNOTAVAIL');
    });
  });

  describe('routes', function () {
    it('adds, lists and deletes device and gateway routes', async function () {
      await rtnl.addAddress('br0', '10.32.0.1/12');
      const br0 = (await rtnl.getLink('br0'))!.index;
      await rtnl.addRoute({ dst: '10.48.0.0/16', oif: br0 });
      await rtnl.addRoute({ dst: '10.49.0.0/16', gateway: '10.32.0.7', metric: 7 });
      const kernel = ns.ipJson<{ dst: string; gateway?: string; dev: string; metric?: number; scope?: string }[]>('route', 'show');
      expect(kernel.find((r) => r.dst === '10.48.0.0/16')).to.include({ dev: 'br0', scope: 'link' });
      expect(kernel.find((r) => r.dst === '10.49.0.0/16')).to.include({ gateway: '10.32.0.7', dev: 'br0', metric: 7 });

      const ours = await rtnl.listRoutes(AF_INET);
      expect(ours.find((r) => r.dst === '10.48.0.0/16')).to.include({ oif: br0, table: 254 });
      expect(ours.find((r) => r.dst === '10.49.0.0/16')).to.include({ gateway: '10.32.0.7', metric: 7, oif: br0 });
      expect((await rejection(rtnl.addRoute({ dst: '10.48.0.0/16', oif: br0 }))).code).to.equal('EEXIST');

      await rtnl.deleteRoute({ dst: '10.48.0.0/16', oif: br0 });
      await rtnl.deleteRoute({ dst: '10.49.0.0/16', gateway: '10.32.0.7', metric: 7 });
      const left = ns.ipJson<{ dst: string }[]>('route', 'show').map((r) => r.dst);
      expect(left).to.not.include('10.48.0.0/16');
      expect(left).to.not.include('10.49.0.0/16');
      expect((await rejection(rtnl.deleteRoute({ dst: '10.48.0.0/16', oif: br0 }))).code).to.equal('ESRCH');
    });

    it('adds a default route in a numbered table', async function () {
      await rtnl.addRoute({ dst: 'default', gateway: '10.32.0.9', table: 1000 });
      const kernel = ns.ipJson<{ dst: string; gateway?: string; dev?: string }[]>('route', 'show', 'table', '1000');
      expect(kernel).to.have.length(1);
      expect(kernel[0]).to.include({ dst: 'default', gateway: '10.32.0.9', dev: 'br0' });
      expect((await rtnl.listRoutes(AF_INET)).find((r) => r.table === 1000)).to.include({ dst: 'default', gateway: '10.32.0.9' });
    });
  });

  describe('neighbours and FDB', function () {
    it('adds, lists and deletes an ARP entry', async function () {
      const br0 = (await rtnl.getLink('br0'))!.index;
      await rtnl.addNeighbour({ index: br0, ip: '10.32.0.50', mac: '02:10:00:00:00:50' });
      const kernel = ns.ipJson<{ dst: string; lladdr: string; state: string[] }[]>('neigh', 'show', 'dev', 'br0');
      expect(kernel.find((n) => n.dst === '10.32.0.50')).to.deep.include({ lladdr: '02:10:00:00:00:50', state: ['PERMANENT'] });
      const ours = await rtnl.listNeighbours(AF_INET);
      expect(ours.find((n) => n.dst === '10.32.0.50')).to.include({ index: br0, mac: '02:10:00:00:00:50', state: 0x80 });
      await rtnl.deleteNeighbour({ index: br0, ip: '10.32.0.50', mac: '02:10:00:00:00:50' });
      expect(ns.ipJson<{ dst: string }[]>('neigh', 'show', 'dev', 'br0').map((n) => n.dst)).to.not.include('10.32.0.50');
    });

    it('programs vxlan FDB entries with remote VTEPs (flood list + unicast MAC)', async function () {
      const vx = (await rtnl.getLink('vx0'))!.index;
      await rtnl.addFdb({ index: vx, mac: '00:00:00:00:00:00', dst: '198.18.0.2' }, { append: true });
      await rtnl.addFdb({ index: vx, mac: '00:00:00:00:00:00', dst: '198.18.0.3' }, { append: true });
      await rtnl.addFdb({ index: vx, mac: '02:10:00:00:00:77', dst: '198.18.0.3' });
      type Fdb = { mac: string; ifname: string; dst?: string; flags: string[]; state: string };
      const kernel = ns.bridgeJson<Fdb[]>('fdb', 'show', 'dev', 'vx0').filter((f) => f.dst !== undefined);
      expect(kernel.map((f) => `${f.mac}>${f.dst}`).sort()).to.deep.equal([
        '00:00:00:00:00:00>198.18.0.2',
        '00:00:00:00:00:00>198.18.0.3',
        '02:10:00:00:00:77>198.18.0.3',
      ]);
      for (const f of kernel) {
        expect(f.flags).to.include('self');
        expect(f.state).to.equal('permanent');
      }
      const ours = (await rtnl.listFdb()).filter((f) => f.index === vx && f.dst !== undefined);
      expect(ours.map((f) => `${f.mac}>${f.dst}`).sort()).to.deep.equal(kernel.map((f) => `${f.mac}>${f.dst}`).sort());
      expect(ours.every((f) => (f.flags & NTF_SELF) !== 0)).to.equal(true);

      expect((await rejection(rtnl.addFdb({ index: vx, mac: '02:10:00:00:00:77', dst: '198.18.0.4' }))).code).to.equal('EEXIST');
      await rtnl.addFdb({ index: vx, mac: '02:10:00:00:00:77', dst: '198.18.0.4' }, { replace: true });
      expect(ns.bridgeJson<Fdb[]>('fdb', 'show', 'dev', 'vx0').find((f) => f.mac === '02:10:00:00:00:77')?.dst).to.equal('198.18.0.4');

      await rtnl.deleteFdb({ index: vx, mac: '00:00:00:00:00:00', dst: '198.18.0.2' });
      await rtnl.deleteFdb({ index: vx, mac: '02:10:00:00:00:77' });
      const left = ns.bridgeJson<Fdb[]>('fdb', 'show', 'dev', 'vx0').filter((f) => f.dst !== undefined);
      expect(left.map((f) => `${f.mac}>${f.dst}`)).to.deep.equal(['00:00:00:00:00:00>198.18.0.3']);
    });

    it('adds a static MAC on a bridge port (master FDB)', async function () {
      await rtnl.setMaster('vc', 'br0');
      const vc = (await rtnl.getLink('vc'))!.index;
      await rtnl.addFdb({ index: vc, mac: '02:10:00:00:00:99', flags: 0x04 /* NTF_MASTER */, state: 0x80 });
      const entry = ns.bridgeJson<{ mac: string; master?: string; state: string }[]>('fdb', 'show', 'dev', 'vc').find((f) => f.mac === '02:10:00:00:00:99');
      expect(entry?.master).to.equal('br0');
      expect(entry?.state).to.equal('permanent');
    });
  });
});
