// The bridge's isolation between weave networks, as one nf_tables transaction (bridge family,
// table `weave`). Why filters and not VLANs: the kernels we run on may lack bridge VLAN
// filtering and 802.1Q (this machine's does), and untouched frames keep every network
// wire-compatible with Weave 2.8 peers. See docs/isolation.md.
//
//   map ports { ifname : jump net-<subnet> }         one element per container port
//   chain forward (hook forward): iifname vmap @ports; oifname vmap @ports
//   chain net-<subnet>: [multicast off: ip daddr 224.0.0.0/4 drop]
//                       ip saddr <subnet> return; arp (Ethernet/IPv4) saddr <subnet> return
//                       drop
//
// Every frame a container port sends (iifname) and every frame the bridge hands to one
// (oifname) must carry a source address of that port's network: a container cannot leave its
// network by forging a source, and frames of other networks (local or from the overlay, which
// is one segment on the wire) never reach it. Other ethertypes are dropped on container ports.
import { parseIpv4 } from '../../common/ipv4.ts';
import type { IsolatedNetwork } from '../contract.ts';
import {
  NF_ACCEPT,
  NF_BR_FORWARD,
  NF_DROP,
  NFPROTO_BRIDGE,
  NFT_CMP_EQ,
  NFT_DATA_VERDICT,
  NFT_JUMP,
  NFT_META_IIFNAME,
  NFT_META_OIFNAME,
  NFT_META_PROTOCOL,
  NFT_PAYLOAD_NETWORK_HEADER,
  NFT_REG_1,
  NFT_REG_VERDICT,
  NFT_RETURN,
  NFT_SET_MAP,
  NFT_USERSPACE_TYPE_IFNAME,
  IFNAMSIZ,
} from '../netlink/nftables/constants.ts';
import type { NftExpr } from '../netlink/nftables/expressions.ts';
import { delTable, ifnameKey, newChain, newRule, newSet, newTable, newVerdictMapElements, type NftMessage } from '../netlink/nftables/messages.ts';

export const ISOLATION_TABLE = 'weave';
export const PORTS_MAP = 'ports';
const PORTS_MAP_ID = 1;
/** Map elements per NEWSETELEM message (each about 70 bytes, with the chain name). */
export const PORTS_PER_MESSAGE = 256;
const ETH_P_IP = 0x0800;
const ETH_P_ARP = 0x0806;
/** ARP header start for Ethernet/IPv4: htype 1, ptype IPv4, hlen 6, plen 4. */
const ARP_ETHER_IPV4 = Buffer.from('000108000604', 'hex');
const ARP_SENDER_IP_OFFSET = 14;
const IPV4_SADDR_OFFSET = 12;
const IPV4_DADDR_OFFSET = 16;
/** nft's set userdata: key byte order "host" (interface names), data byte order unset. */
const IFNAME_SET_USERDATA = Buffer.from('000401000000' + '010400000000', 'hex');

/** Chain of a network, named for its first subnet (stable across restarts and hosts). */
export function networkChainName(n: IsolatedNetwork): string {
  return `net-${(n.subnets[0] ?? 'none').replace('/', '-')}`;
}

function parseSubnet(text: string): { base: number; prefix: number } {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  const prefix = Number(m?.[2] ?? NaN);
  if (m === null || prefix > 32) throw new Error(`not an IPv4 subnet: ${text}`);
  return { base: parseIpv4(m[1]!), prefix };
}

function be16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

function be32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

function protocolIs(ethertype: number): NftExpr[] {
  return [
    { kind: 'meta', key: NFT_META_PROTOCOL, dreg: NFT_REG_1 },
    { kind: 'cmp', sreg: NFT_REG_1, op: NFT_CMP_EQ, data: be16(ethertype) },
  ];
}

/** The 4 bytes at `offset` of the network header lie in base/prefix. */
function addressIn(offset: number, base: number, prefix: number): NftExpr[] {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [
    { kind: 'payload', base: NFT_PAYLOAD_NETWORK_HEADER, offset, len: 4, dreg: NFT_REG_1 },
    { kind: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, mask: be32(mask), xor: be32(0) },
    { kind: 'cmp', sreg: NFT_REG_1, op: NFT_CMP_EQ, data: be32((base & mask) >>> 0) },
  ];
}

function verdict(code: number, chain?: string): NftExpr {
  return { kind: 'immediate', verdict: chain === undefined ? { code } : { code, chain } };
}

/** `ip daddr 224.0.0.0/4 drop` */
export function multicastDropRule(): NftExpr[] {
  return [...protocolIs(ETH_P_IP), ...addressIn(IPV4_DADDR_OFFSET, 0xe0000000, 4), verdict(NF_DROP)];
}

function networkRules(n: IsolatedNetwork): NftExpr[][] {
  const rules: NftExpr[][] = [];
  if (!n.multicast) rules.push(multicastDropRule());
  for (const subnet of n.subnets) {
    const { base, prefix } = parseSubnet(subnet);
    rules.push([...protocolIs(ETH_P_IP), ...addressIn(IPV4_SADDR_OFFSET, base, prefix), verdict(NFT_RETURN)]);
    rules.push([
      ...protocolIs(ETH_P_ARP),
      { kind: 'payload', base: NFT_PAYLOAD_NETWORK_HEADER, offset: 0, len: ARP_ETHER_IPV4.length, dreg: NFT_REG_1 },
      { kind: 'cmp', sreg: NFT_REG_1, op: NFT_CMP_EQ, data: ARP_ETHER_IPV4 },
      ...addressIn(ARP_SENDER_IP_OFFSET, base, prefix),
      verdict(NFT_RETURN),
    ]);
  }
  rules.push([verdict(NF_DROP)]);
  return rules;
}

function portLookup(metaKey: number): NftExpr[] {
  return [
    { kind: 'meta', key: metaKey, dreg: NFT_REG_1 },
    { kind: 'lookup', set: PORTS_MAP, setId: PORTS_MAP_ID, sreg: NFT_REG_1, dreg: NFT_REG_VERDICT },
  ];
}

/** The whole table, replacing whatever was there (add + delete + add is valid when the table is
 *  absent, and the transaction is atomic, so no frame ever sees a half-built table). */
export function isolationRuleset(networks: IsolatedNetwork[]): NftMessage[] {
  const fam = NFPROTO_BRIDGE;
  const t = ISOLATION_TABLE;
  const msgs: NftMessage[] = [newTable(fam, t), delTable(fam, t), newTable(fam, t)];
  msgs.push(newSet(fam, { table: t, name: PORTS_MAP, id: PORTS_MAP_ID, flags: NFT_SET_MAP, keyType: NFT_USERSPACE_TYPE_IFNAME, keyLen: IFNAMSIZ, dataType: NFT_DATA_VERDICT, userdata: IFNAME_SET_USERDATA }));
  const chains = new Map<string, IsolatedNetwork>();
  for (const n of networks) if (!chains.has(networkChainName(n))) chains.set(networkChainName(n), n);
  for (const [name, n] of chains) {
    msgs.push(newChain(fam, t, name));
    for (const rule of networkRules(n)) msgs.push(newRule(fam, t, name, rule));
  }
  msgs.push(newChain(fam, t, 'forward', { hook: NF_BR_FORWARD, priority: 0, policy: NF_ACCEPT, type: 'filter' }));
  msgs.push(newRule(fam, t, 'forward', portLookup(NFT_META_IIFNAME)));
  msgs.push(newRule(fam, t, 'forward', portLookup(NFT_META_OIFNAME)));
  const elements = networks.flatMap((n) => n.ports.map((p) => ({ key: ifnameKey(p), verdict: { code: NFT_JUMP, chain: networkChainName(n) } })));
  // A netlink attribute's length is 16 bits: all the ports in one message would stop fitting
  // at about 900 containers.
  for (let i = 0; i < elements.length; i += PORTS_PER_MESSAGE) {
    msgs.push(newVerdictMapElements(fam, t, PORTS_MAP, PORTS_MAP_ID, elements.slice(i, i + PORTS_PER_MESSAGE)));
  }
  return msgs;
}
