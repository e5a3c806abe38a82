// Request vectors are the bytes iproute2 sent for the same operation (strace -x, kernel 6.18);
// decode vectors are kernel replies (fixtures/README.md).
import { expect } from 'chai';
import { decodeAddress, encodeAddress } from '../../../datapath/netlink/rtnetlink/address.ts';
import { decodeLink, encodeLinkSelector, encodeNewBridge, encodeNewVeth, encodeNewVxlan, encodeSetLink } from '../../../datapath/netlink/rtnetlink/link.ts';
import { decodeNeighbour, encodeFdb, encodeNeighbour } from '../../../datapath/netlink/rtnetlink/neighbour.ts';
import { decodeRoute, encodeRoute } from '../../../datapath/netlink/rtnetlink/route.ts';
import { AF_BRIDGE, AF_INET, NTF_SELF, NUD_NOARP, NUD_PERMANENT, RTN_UNICAST, RT_SCOPE_LINK, RT_TABLE_MAIN } from '../../../datapath/netlink/rtnetlink/constants.ts';
import { fixture, hex } from './hex.ts';

describe('rtnetlink request encoding (vs iproute2 bytes)', function () {
  it('ip link add wvbr type bridge', function () {
    expect(encodeNewBridge('wvbr')).to.deep.equal(
      hex('00000000 00000000 00000000 00000000 09000300 77766272 00000000 10001200 0a000100 62726964 67650000'),
    );
  });

  it('ip link add vh mtu 1376 type veth peer name vg address 02:00:00:00:00:02', function () {
    expect(encodeNewVeth('vh', { mtu: 1376 }, { name: 'vg', mac: '02:00:00:00:00:02' })).to.deep.equal(
      hex(`00000000 00000000 00000000 00000000 08000400 60050000 07000300 76680000
           38001200 08000100 76657468 2c000200 28000100
             00000000 00000000 00000000 00000000 0a000100 02000000 00020000 07000300 76670000`),
    );
  });

  it('ip link add vx type vxlan id 42 local 198.18.0.1 dstport 6784 nolearning', function () {
    expect(encodeNewVxlan('vx', { vni: 42, local: '198.18.0.1', port: 6784, learning: false })).to.deep.equal(
      hex(`00000000 00000000 00000000 00000000 07000300 76780000
           34001200 09000100 76786c61 6e000000 24000200
             08000100 2a000000 08000400 c6120001 05000700 00000000 06000f00 1a800000`),
    );
  });

  it('ip link set vh up / master wvbr / nomaster (ifindex 3, bridge 4)', function () {
    expect(encodeSetLink(3, { up: true })).to.deep.equal(hex('00000000 03000000 01000000 01000000'));
    expect(encodeSetLink(3, { master: 4 })).to.deep.equal(hex('00000000 03000000 00000000 00000000 08000a00 04000000'));
    expect(encodeSetLink(3, { master: null })).to.deep.equal(hex('00000000 03000000 00000000 00000000 08000a00 00000000'));
    // no iproute2 command sets devconf over netlink: IFLA_AF_SPEC { AF_INET { IFLA_INET_CONF { ARP_IGNORE(19) = 1 } } }
    expect(encodeSetLink(3, { arpIgnore: 1 })).to.deep.equal(hex('00000000 03000000 00000000 00000000 14001a00 10000200 0c000100 08001300 01000000'));
  });

  it('ip link del (ifindex 2), and selecting by name', function () {
    expect(encodeLinkSelector(2)).to.deep.equal(hex('00000000 02000000 00000000 00000000'));
    expect(encodeLinkSelector('vx')).to.deep.equal(hex('00000000 00000000 00000000 00000000 07000300 76780000'));
  });

  it('ip addr add 10.32.0.1/12 dev wvbr (ifindex 2), without and with broadcast', function () {
    expect(encodeAddress(2, '10.32.0.1/12', { broadcast: false })).to.deep.equal(
      hex('020c0000 02000000 08000200 0a200001 08000100 0a200001'),
    );
    // `brd +`: IFA_BROADCAST 10.47.255.255 appended
    expect(encodeAddress(2, '10.32.0.1/12')).to.deep.equal(
      hex('020c0000 02000000 08000200 0a200001 08000100 0a200001 08000400 0a2fffff'),
    );
  });

  it('ip route add 10.48.0.0/16 dev vh (ifindex 3)', function () {
    expect(encodeRoute({ dst: '10.48.0.0/16', oif: 3 })).to.deep.equal(
      hex('02100000 fe03fd01 00000000 08000100 0a300000 08000400 03000000'),
    );
  });

  it('ip route add 10.49.0.0/16 via 10.48.0.1 metric 5', function () {
    expect(encodeRoute({ dst: '10.49.0.0/16', gateway: '10.48.0.1', metric: 5 })).to.deep.equal(
      hex('02100000 fe030001 00000000 08000100 0a310000 08000500 0a300001 08000600 05000000'),
    );
  });

  it('routes in tables above 255 carry RTA_TABLE', function () {
    const b = encodeRoute({ dst: 'default', gateway: '10.48.0.1', table: 1000 });
    expect(b.subarray(0, 12)).to.deep.equal(hex('02000000 00030001 00000000'));
    expect(b.subarray(12)).to.deep.equal(hex('08000500 0a300001 08000f00 e8030000'));
  });

  it('bridge fdb append 00:00:00:00:00:00 dev vx dst 198.18.0.2 self permanent (ifindex 4)', function () {
    expect(encodeFdb({ index: 4, mac: '00:00:00:00:00:00', dst: '198.18.0.2' })).to.deep.equal(
      hex('07000000 04000000 c0000200 0a000200 00000000 00000000 08000100 c6120002'),
    );
  });

  it('ip neigh add 10.32.0.9 lladdr 02:00:00:00:00:09 dev 2 (permanent)', function () {
    expect(encodeNeighbour({ index: 2, ip: '10.32.0.9', mac: '02:00:00:00:00:09' })).to.deep.equal(
      hex('02000000 02000000 80000000 08000100 0a200009 0a000200 02000000 00090000'),
    );
  });
});

describe('rtnetlink reply decoding (kernel replies)', function () {
  it('a veth enslaved to a bridge', function () {
    const link = decodeLink(fixture('newlink-veth-port'));
    expect(link).to.deep.include({
      index: 4,
      name: 'vh',
      kind: 'veth',
      slaveKind: 'bridge',
      mtu: 1376,
      mac: '4e:b4:db:5f:02:7c',
      up: true,
      masterIndex: 2,
      linkIndex: 3,
    });
  });

  it('a vxlan device with its parameters', function () {
    const link = decodeLink(fixture('newlink-vxlan'));
    expect(link).to.deep.include({ index: 5, name: 'vx', kind: 'vxlan', mtu: 1500, mac: 'e6:68:a8:95:72:e0', up: false });
    expect(link.masterIndex).to.equal(undefined);
    expect(link.vxlan).to.deep.include({ vni: 42, local: '198.18.0.1', port: 6784, learning: false, external: false });
  });

  it('an IPv4 address', function () {
    expect(decodeAddress(fixture('newaddr-bridge'))).to.deep.equal({
      index: 2,
      family: AF_INET,
      address: '10.32.0.1',
      prefixLength: 12,
      cidr: '10.32.0.1/12',
      scope: 0,
      label: 'wvbr',
    });
  });

  it('a connected route and a gateway route', function () {
    expect(decodeRoute(fixture('newroute-link'))).to.deep.equal({
      family: AF_INET,
      dst: '10.32.0.0/12',
      table: RT_TABLE_MAIN,
      protocol: 2,
      scope: RT_SCOPE_LINK,
      type: RTN_UNICAST,
      oif: 2,
      prefsrc: '10.32.0.1',
    });
    expect(decodeRoute(fixture('newroute-gateway'))).to.deep.equal({
      family: AF_INET,
      dst: '10.48.0.0/16',
      table: RT_TABLE_MAIN,
      protocol: 3,
      scope: 0,
      type: RTN_UNICAST,
      gateway: '10.32.0.7',
      oif: 2,
      metric: 5,
    });
  });

  it('a vxlan FDB entry', function () {
    expect(decodeNeighbour(fixture('newneigh-fdb-vxlan'))).to.deep.equal({
      family: AF_BRIDGE,
      index: 5,
      state: NUD_PERMANENT | NUD_NOARP,
      flags: NTF_SELF,
      mac: '00:00:00:00:00:00',
      dst: '198.18.0.2',
    });
  });
});
