// The nf_tables side of encrypted fastdp, as one transaction (ip family, table `weave-ipsec`):
// what Weave does with iptables chains WEAVE-IPSEC-* (weave-reference §5.7), in our own table
// so that replacing it never touches anyone else's rules.
//
//   chain out-mark  (type route, hook output, priority mangle):
//       per encrypting peer: ip saddr L ip daddr R udp dport 6784  meta mark set mark | 0x20000
//       A route chain re-routes after changing the mark, and re-routing looks up the xfrm
//       policy again, which selects by this mark: VXLAN to R gets ESP.
//   chain out-guard (type filter, hook output, priority filter):
//       meta mark & 0x20000 == 0x20000  meta l4proto != esp  rt ipsec missing  drop
//       A marked packet no policy transformed never leaves in clear (e.g. before the outbound
//       SA exists, or after it went). ESP itself passes output again after the transform.
//   chain in-guard  (type filter, hook input, priority filter):
//       per encrypting peer: ip saddr R ip daddr L udp dport 6784  meta ipsec missing  drop
//       VXLAN from a peer that encrypts must have come out of an SA (Weave marks ESP by SPI
//       instead; the decapsulated packet carrying a secpath says the same without a mark).
import { parseIpv4 } from '../../common/ipv4.ts';
import {
  NF_ACCEPT,
  NF_DROP,
  NF_INET_LOCAL_IN,
  NF_INET_LOCAL_OUT,
  NFT_BITWISE_MASK_XOR,
  NFPROTO_IPV4,
  NFT_CMP_EQ,
  NFT_CMP_NEQ,
  NFT_META_L4PROTO,
  NFT_META_MARK,
  NFT_META_SECPATH,
  NFT_PAYLOAD_NETWORK_HEADER,
  NFT_PAYLOAD_TRANSPORT_HEADER,
  NFT_REG_1,
  NFT_RT_XFRM,
} from '../netlink/nftables/constants.ts';
import type { NftExpr } from '../netlink/nftables/expressions.ts';
import { delTable, newChain, newRule, newTable, type NftMessage } from '../netlink/nftables/messages.ts';
import { IPSEC_MARK } from './constants.ts';

export const IPSEC_TABLE = 'weave-ipsec';
const IPPROTO_UDP = 17;
const IPPROTO_ESP = 50;
const PRIORITY_MANGLE = -150;
const PRIORITY_FILTER = 0;

/** One encrypted connection's addresses: ours (L) and the peer's (R), and the VXLAN port. */
export interface IpsecPeerRule {
  local: string;
  remote: string;
  port: number;
}

function be32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

/** Host-order u32 as the meta expression loads the mark. */
function host32(v: number): Buffer {
  const b = Buffer.alloc(4);
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] === 1) b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}

function be16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

function vxlanBetween(src: string, dst: string, port: number): NftExpr[] {
  return [
    { kind: 'payload', base: NFT_PAYLOAD_NETWORK_HEADER, offset: 12, len: 4, dreg: NFT_REG_1 },
    { kind: 'cmp', sreg: NFT_REG_1, op: NFT_CMP_EQ, data: be32(parseIpv4(src)) },
    { kind: 'payload', base: NFT_PAYLOAD_NETWORK_HEADER, offset: 16, len: 4, dreg: NFT_REG_1 },
    { kind: 'cmp', sreg: NFT_REG_1, op: NFT_CMP_EQ, data: be32(parseIpv4(dst)) },
    { kind: 'meta', key: NFT_META_L4PROTO, dreg: NFT_REG_1 },
    { kind: 'cmp', sreg: NFT_REG_1, op: NFT_CMP_EQ, data: Buffer.from([IPPROTO_UDP]) },
    { kind: 'payload', base: NFT_PAYLOAD_TRANSPORT_HEADER, offset: 2, len: 2, dreg: NFT_REG_1 },
    { kind: 'cmp', sreg: NFT_REG_1, op: NFT_CMP_EQ, data: be16(port) },
  ];
}

const drop: NftExpr = { kind: 'immediate', verdict: { code: NF_DROP } };

export function markRule(p: IpsecPeerRule): NftExpr[] {
  return [
    ...vxlanBetween(p.local, p.remote, p.port),
    { kind: 'meta', key: NFT_META_MARK, dreg: NFT_REG_1 },
    { kind: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, mask: host32(~IPSEC_MARK.value), xor: host32(IPSEC_MARK.value), op: NFT_BITWISE_MASK_XOR },
    { kind: 'meta', key: NFT_META_MARK, sreg: NFT_REG_1 },
  ];
}

export function leakGuardRule(): NftExpr[] {
  return [
    { kind: 'meta', key: NFT_META_MARK, dreg: NFT_REG_1 },
    { kind: 'bitwise', sreg: NFT_REG_1, dreg: NFT_REG_1, mask: host32(IPSEC_MARK.mask), xor: host32(0), op: NFT_BITWISE_MASK_XOR },
    { kind: 'cmp', sreg: NFT_REG_1, op: NFT_CMP_EQ, data: host32(IPSEC_MARK.value) },
    { kind: 'meta', key: NFT_META_L4PROTO, dreg: NFT_REG_1 },
    { kind: 'cmp', sreg: NFT_REG_1, op: NFT_CMP_NEQ, data: Buffer.from([IPPROTO_ESP]) },
    { kind: 'rt', key: NFT_RT_XFRM, dreg: NFT_REG_1 },
    { kind: 'cmp', sreg: NFT_REG_1, op: NFT_CMP_EQ, data: Buffer.from([0]) },
    drop,
  ];
}

export function inboundGuardRule(p: IpsecPeerRule): NftExpr[] {
  return [
    ...vxlanBetween(p.remote, p.local, p.port),
    { kind: 'meta', key: NFT_META_SECPATH, dreg: NFT_REG_1 },
    { kind: 'cmp', sreg: NFT_REG_1, op: NFT_CMP_EQ, data: Buffer.from([0]) },
    drop,
  ];
}

/** The whole table for these peers, replacing what was there (add + delete + add is valid when
 *  the table is absent; the transaction is atomic). */
export function ipsecRuleset(peers: IpsecPeerRule[]): NftMessage[] {
  const fam = NFPROTO_IPV4;
  const t = IPSEC_TABLE;
  const msgs: NftMessage[] = [newTable(fam, t), delTable(fam, t), newTable(fam, t)];
  msgs.push(newChain(fam, t, 'out-mark', { hook: NF_INET_LOCAL_OUT, priority: PRIORITY_MANGLE, policy: NF_ACCEPT, type: 'route' }));
  msgs.push(newChain(fam, t, 'out-guard', { hook: NF_INET_LOCAL_OUT, priority: PRIORITY_FILTER, policy: NF_ACCEPT, type: 'filter' }));
  msgs.push(newChain(fam, t, 'in-guard', { hook: NF_INET_LOCAL_IN, priority: PRIORITY_FILTER, policy: NF_ACCEPT, type: 'filter' }));
  const seen = new Set<string>();
  for (const p of peers) {
    const key = `${p.local} ${p.remote} ${p.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    msgs.push(newRule(fam, t, 'out-mark', markRule(p)));
    msgs.push(newRule(fam, t, 'in-guard', inboundGuardRule(p)));
  }
  msgs.push(newRule(fam, t, 'out-guard', leakGuardRule()));
  return msgs;
}

/** Removes the table (add first so that deleting an absent table is not an error). */
export function ipsecRulesetRemoval(): NftMessage[] {
  return [newTable(NFPROTO_IPV4, IPSEC_TABLE), delTable(NFPROTO_IPV4, IPSEC_TABLE)];
}
