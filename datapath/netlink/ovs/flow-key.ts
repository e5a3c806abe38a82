// Flow keys and masks (OVS_KEY_ATTR_*): the parts Weave matches on — ingress port, Ethernet
// addresses, tunnel metadata — typed; everything else the kernel reports kept as raw attributes.
import { attr, attrFlag, attrU32, attrU8, decodeAttrs } from '../attributes.ts';
import type { RawAttr } from '../attributes.ts';
import { readU32 } from '../host-endian.ts';
import { bytesToIp, bytesToMac, ipToBytes, macToBytes } from '../inet.ts';
import {
  OVS_KEY_ATTR_ETHERNET,
  OVS_KEY_ATTR_IN_PORT,
  OVS_KEY_ATTR_TUNNEL,
  OVS_TUNNEL_KEY_ATTR_CSUM,
  OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT,
  OVS_TUNNEL_KEY_ATTR_ID,
  OVS_TUNNEL_KEY_ATTR_IPV4_DST,
  OVS_TUNNEL_KEY_ATTR_IPV4_SRC,
  OVS_TUNNEL_KEY_ATTR_TOS,
  OVS_TUNNEL_KEY_ATTR_TP_DST,
  OVS_TUNNEL_KEY_ATTR_TP_SRC,
  OVS_TUNNEL_KEY_ATTR_TTL,
} from './constants.ts';

/** Tunnel metadata. In a key: what a packet came with or must leave with; in a mask: which
 *  bits matter (all-ones address/id = exact). Id, addresses and UDP ports go big-endian. */
export interface TunnelKey {
  id?: bigint;
  ipv4Src?: string;
  ipv4Dst?: string;
  tos?: number;
  /** A key with tunnel metadata must carry a non-zero TTL (and a destination) or the kernel
   *  refuses it with EINVAL. */
  ttl?: number;
  dontFragment?: boolean;
  csum?: boolean;
  tpSrc?: number;
  tpDst?: number;
}

export interface FlowKey {
  inPort?: number;
  ethernet?: { src: string; dst: string };
  tunnel?: TunnelKey;
  /** Attributes we do not interpret (priority, skb mark, ethertype, IPv4, ARP, conntrack...). */
  others?: RawAttr[];
}

export function encodeTunnelKey(type: number, t: TunnelKey): Buffer {
  const parts: Buffer[] = [];
  if (t.id !== undefined) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt.asUintN(64, t.id), 0);
    parts.push(attr(OVS_TUNNEL_KEY_ATTR_ID, b));
  }
  if (t.ipv4Src !== undefined) parts.push(attr(OVS_TUNNEL_KEY_ATTR_IPV4_SRC, ipToBytes(t.ipv4Src)));
  if (t.ipv4Dst !== undefined) parts.push(attr(OVS_TUNNEL_KEY_ATTR_IPV4_DST, ipToBytes(t.ipv4Dst)));
  if (t.tos !== undefined) parts.push(attrU8(OVS_TUNNEL_KEY_ATTR_TOS, t.tos));
  if (t.ttl !== undefined) parts.push(attrU8(OVS_TUNNEL_KEY_ATTR_TTL, t.ttl));
  if (t.dontFragment === true) parts.push(attrFlag(OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT));
  if (t.csum === true) parts.push(attrFlag(OVS_TUNNEL_KEY_ATTR_CSUM));
  for (const [k, v] of [
    [OVS_TUNNEL_KEY_ATTR_TP_SRC, t.tpSrc],
    [OVS_TUNNEL_KEY_ATTR_TP_DST, t.tpDst],
  ] as const) {
    if (v === undefined) continue;
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v, 0);
    parts.push(attr(k, b));
  }
  // OVS nests carry no NLA_F_NESTED: the kernel and ovs-vswitchd never set it.
  return attr(type, Buffer.concat(parts));
}

export function decodeTunnelKey(buf: Buffer): TunnelKey {
  const t: TunnelKey = {};
  for (const a of decodeAttrs(buf)) {
    switch (a.type) {
      case OVS_TUNNEL_KEY_ATTR_ID:
        if (a.data.length >= 8) t.id = a.data.readBigUInt64BE(0);
        break;
      case OVS_TUNNEL_KEY_ATTR_IPV4_SRC:
        t.ipv4Src = bytesToIp(a.data.subarray(0, 4));
        break;
      case OVS_TUNNEL_KEY_ATTR_IPV4_DST:
        t.ipv4Dst = bytesToIp(a.data.subarray(0, 4));
        break;
      case OVS_TUNNEL_KEY_ATTR_TOS:
        t.tos = a.data.readUInt8(0);
        break;
      case OVS_TUNNEL_KEY_ATTR_TTL:
        t.ttl = a.data.readUInt8(0);
        break;
      case OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT:
        t.dontFragment = true;
        break;
      case OVS_TUNNEL_KEY_ATTR_CSUM:
        t.csum = true;
        break;
      case OVS_TUNNEL_KEY_ATTR_TP_SRC:
        t.tpSrc = a.data.readUInt16BE(0);
        break;
      case OVS_TUNNEL_KEY_ATTR_TP_DST:
        t.tpDst = a.data.readUInt16BE(0);
        break;
    }
  }
  return t;
}

/** The attributes of a key or mask (to be wrapped in OVS_FLOW_ATTR_KEY/MASK or
 *  OVS_PACKET_ATTR_KEY). The same layout serves both: a mask's values are bit masks. */
export function encodeFlowKeyAttrs(key: FlowKey): Buffer {
  const parts: Buffer[] = [];
  if (key.inPort !== undefined) parts.push(attrU32(OVS_KEY_ATTR_IN_PORT, key.inPort));
  if (key.ethernet !== undefined) {
    parts.push(attr(OVS_KEY_ATTR_ETHERNET, Buffer.concat([macToBytes(key.ethernet.src), macToBytes(key.ethernet.dst)])));
  }
  if (key.tunnel !== undefined) parts.push(encodeTunnelKey(OVS_KEY_ATTR_TUNNEL, key.tunnel));
  for (const o of key.others ?? []) parts.push(attr(o.type, o.data));
  return Buffer.concat(parts);
}

export function decodeFlowKeyAttrs(buf: Buffer): FlowKey {
  const key: FlowKey = {};
  const others: RawAttr[] = [];
  for (const a of decodeAttrs(buf)) {
    if (a.type === OVS_KEY_ATTR_IN_PORT && a.data.length >= 4) key.inPort = readU32(a.data, 0);
    else if (a.type === OVS_KEY_ATTR_ETHERNET && a.data.length >= 12) {
      key.ethernet = { src: bytesToMac(a.data.subarray(0, 6)), dst: bytesToMac(a.data.subarray(6, 12)) };
    } else if (a.type === OVS_KEY_ATTR_TUNNEL) key.tunnel = decodeTunnelKey(a.data);
    else others.push(a);
  }
  if (others.length > 0) key.others = others;
  return key;
}

/** The mask Weave installs: ingress port and both MACs exact; on tunnelled ingress also the
 *  tunnel id and outer addresses exact (the rest of the tunnel metadata wildcarded). */
export function exactMaskFor(key: FlowKey): FlowKey {
  const mask: FlowKey = {};
  if (key.inPort !== undefined) mask.inPort = 0xffffffff;
  if (key.ethernet !== undefined) mask.ethernet = { src: 'ff:ff:ff:ff:ff:ff', dst: 'ff:ff:ff:ff:ff:ff' };
  if (key.tunnel !== undefined) {
    mask.tunnel = { id: 0xffffffffffffffffn, ipv4Src: '255.255.255.255', ipv4Dst: '255.255.255.255', ttl: 0 };
  }
  return mask;
}
