import { expect } from 'chai';
import { multicastDropRule, isolationRuleset } from '../../../../datapath/isolation/isolation-ruleset.ts';
import { NFPROTO_BRIDGE, NFT_DATA_VERDICT, NFT_SET_MAP, NFT_USERSPACE_TYPE_IFNAME, NFNL_SUBSYS_NFTABLES } from '../../../../datapath/netlink/nftables/constants.ts';
import { ifnameKey, newRule, newSet, batchBegin } from '../../../../datapath/netlink/nftables/messages.ts';
import { AttrSet } from '../../../../datapath/netlink/attributes.ts';

// Payloads (after the 16-byte nlmsghdr) that nft 1.0.6 sends for the same objects, taken from
// `nft --debug=mnl -f` in a scratch namespace.
const NFT_RULE_MCAST_DROP =
  '070000000a00010077656176650000000a0002006e65742d610000002801048024000180090001006d6574610000000014000280080002000000000108000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800600010008000000340001800c0001007061796c6f616400240002800800010000000001080002000000000108000300000000100800040000000004440001800c0001006269747769736500340002800800010000000001080002000000000108000300000000040c00048008000100f00000000c00058008000100000000002c00018008000100636d700020000280080001000000000108000200000000000c00038008000100e0000000300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c0002800800010000000000';
// nft also sends DATA_LEN 0 and a third userdata TLV; the kernel ignores both for verdict maps.
const NFT_SET_PORTS_PREFIX = '070000000a00010077656176650000000a000200706f72747300000008000300000000080800040000000029080005000000001008000600ffffff00';

describe('nf_tables codec', function () {
  it('encodes `ip daddr 224.0.0.0/4 drop` byte for byte as nft does', function () {
    const msg = newRule(NFPROTO_BRIDGE, 'weave', 'net-a', multicastDropRule());
    expect(msg.payload.toString('hex')).to.equal(NFT_RULE_MCAST_DROP);
    expect(msg.type).to.equal((NFNL_SUBSYS_NFTABLES << 8) | 6);
  });

  it('encodes an ifname-to-verdict map as nft does', function () {
    const msg = newSet(NFPROTO_BRIDGE, { table: 'weave', name: 'ports', id: 1, flags: NFT_SET_MAP, keyType: NFT_USERSPACE_TYPE_IFNAME, keyLen: 16, dataType: NFT_DATA_VERDICT });
    expect(msg.payload.toString('hex').startsWith(NFT_SET_PORTS_PREFIX)).to.equal(true);
  });

  it('frames batches for the nftables subsystem', function () {
    expect(batchBegin().payload.toString('hex')).to.equal('0000000a');
  });

  it('pads interface names to IFNAMSIZ and refuses names the kernel cannot hold', function () {
    expect(ifnameKey('vethwl1234').toString('hex')).to.equal(Buffer.concat([Buffer.from('vethwl1234'), Buffer.alloc(6)]).toString('hex'));
    expect(() => ifnameKey('a-sixteen-chars!')).to.throw(RangeError);
  });
});

describe('isolation ruleset', function () {
  const nets = [
    { subnets: ['10.41.0.0/24'], multicast: true, ports: ['vethwla', 'vethwlb'] },
    { subnets: ['10.42.0.0/16', '10.43.0.0/24'], multicast: false, ports: ['vethwlc'] },
  ];

  it('replaces the table atomically: add, delete, add, then its contents', function () {
    const types = isolationRuleset(nets).map((m) => m.type & 0xff);
    expect(types.slice(0, 4)).to.deep.equal([0, 2, 0, 9]); // NEWTABLE DELTABLE NEWTABLE NEWSET
    expect(types.at(-1)).to.equal(12); // NEWSETELEM last: every chain it jumps to exists by then
  });

  it('has a chain per network: multicast drop only when off, source checks per subnet, then drop', function () {
    const msgs = isolationRuleset(nets);
    const rulesOf = (chain: string): number => msgs.filter((m) => (m.type & 0xff) === 6 && new AttrSet(m.payload.subarray(4)).str(2) === chain).length;
    expect(rulesOf('net-10.41.0.0-24')).to.equal(3); // ip saddr, arp saddr, drop
    expect(rulesOf('net-10.42.0.0-16')).to.equal(6); // mcast drop, 2×(ip, arp), drop
    expect(rulesOf('forward')).to.equal(2); // iifname vmap, oifname vmap
  });

  it('maps every port to its network chain and nothing else', function () {
    const elems = isolationRuleset(nets).at(-1)!;
    const text = elems.payload.toString('latin1');
    for (const p of ['vethwla', 'vethwlb', 'vethwlc']) expect(text).to.include(p);
    expect(text.split('net-10.41.0.0-24').length - 1).to.equal(2);
    expect(text.split('net-10.42.0.0-16').length - 1).to.equal(1);
  });

  it('creates no element list for a host without containers', function () {
    expect(isolationRuleset([]).some((m) => (m.type & 0xff) === 12)).to.equal(false);
  });

  it('refuses a subnet that is not IPv4', function () {
    expect(() => isolationRuleset([{ subnets: ['fd00::/64'], multicast: true, ports: [] }])).to.throw(/not an IPv4 subnet/);
  });
});
