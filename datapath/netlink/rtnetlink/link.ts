// Links (RTM_*LINK): struct ifinfomsg + IFLA_* attributes, for bridge, veth and vxlan devices.
import { AttrSet, attr, attrBe16, attrNested, attrString, attrU32, attrU8 } from '../attributes.ts';
import { readI32, readU16, readU32, writeI32, writeU16, writeU32 } from '../host-endian.ts';
import { bytesToIp, bytesToMac, ipToBytes, macToBytes } from '../inet.ts';
import {
  AF_INET,
  AF_UNSPEC,
  IFF_UP,
  IFINFOMSG_LEN,
  IFLA_ADDRESS,
  IFLA_AF_SPEC,
  IFLA_IFNAME,
  IFLA_INET_CONF,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_INFO_SLAVE_KIND,
  IFLA_LINK,
  IFLA_LINKINFO,
  IFLA_MASTER,
  IFLA_MTU,
  IFLA_NET_NS_FD,
  IFLA_OPERSTATE,
  IFLA_VXLAN_COLLECT_METADATA,
  IFLA_VXLAN_ID,
  IFLA_VXLAN_LEARNING,
  IFLA_VXLAN_LINK,
  IFLA_VXLAN_LOCAL,
  IFLA_VXLAN_PORT,
  IFLA_VXLAN_TTL,
  IPV4_DEVCONF_ARP_IGNORE,
  VETH_INFO_PEER,
} from './constants.ts';

export interface IfInfoHeader {
  family: number;
  /** ARPHRD_* device type (1 = ether). */
  type: number;
  index: number;
  flags: number;
  change: number;
}

export function encodeIfInfo(h: Partial<IfInfoHeader> = {}): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b.writeUInt8(h.family ?? AF_UNSPEC, 0);
  writeU16(b, h.type ?? 0, 2);
  writeI32(b, h.index ?? 0, 4);
  writeU32(b, h.flags ?? 0, 8);
  writeU32(b, h.change ?? 0, 12);
  return b;
}

export function decodeIfInfo(buf: Buffer): IfInfoHeader {
  if (buf.length < IFINFOMSG_LEN) throw new Error(`short ifinfomsg (${buf.length} bytes)`);
  return {
    family: buf.readUInt8(0),
    type: readU16(buf, 2),
    index: readI32(buf, 4),
    flags: readU32(buf, 8),
    change: readU32(buf, 12),
  };
}

export interface VxlanInfo {
  vni?: number;
  local?: string;
  /** UDP destination port */
  port?: number;
  learning?: boolean;
  /** ifindex of the underlay device */
  dev?: number;
  ttl?: number;
  /** collect_metadata ("external") */
  external?: boolean;
}

export interface Link {
  index: number;
  name: string;
  kind?: string;
  /** Kind of the master the link is enslaved to ("bridge"). */
  slaveKind?: string;
  mtu: number;
  mac: string;
  flags: number;
  up: boolean;
  operState?: number;
  masterIndex?: number;
  /** IFLA_LINK: the peer's ifindex for veth, the lower device otherwise. */
  linkIndex?: number;
  vxlan?: VxlanInfo;
}

function decodeVxlan(data: AttrSet): VxlanInfo {
  const info: VxlanInfo = {};
  const vni = data.u32(IFLA_VXLAN_ID);
  if (vni !== undefined) info.vni = vni;
  const local = data.get(IFLA_VXLAN_LOCAL);
  if (local !== undefined) info.local = bytesToIp(local);
  const port = data.be16(IFLA_VXLAN_PORT);
  if (port !== undefined) info.port = port;
  const learning = data.u8(IFLA_VXLAN_LEARNING);
  if (learning !== undefined) info.learning = learning !== 0;
  const dev = data.u32(IFLA_VXLAN_LINK);
  if (dev !== undefined) info.dev = dev;
  const ttl = data.u8(IFLA_VXLAN_TTL);
  if (ttl !== undefined) info.ttl = ttl;
  const external = data.u8(IFLA_VXLAN_COLLECT_METADATA);
  if (external !== undefined) info.external = external !== 0;
  return info;
}

/** Decodes an RTM_NEWLINK message payload (a GET reply or a dump part). */
export function decodeLink(payload: Buffer): Link {
  const hdr = decodeIfInfo(payload);
  const attrs = new AttrSet(payload.subarray(IFINFOMSG_LEN));
  const mac = attrs.get(IFLA_ADDRESS);
  const link: Link = {
    index: hdr.index,
    name: attrs.str(IFLA_IFNAME) ?? '',
    mtu: attrs.u32(IFLA_MTU) ?? 0,
    mac: mac !== undefined ? bytesToMac(mac) : '',
    flags: hdr.flags,
    up: (hdr.flags & IFF_UP) !== 0,
  };
  const oper = attrs.u8(IFLA_OPERSTATE);
  if (oper !== undefined) link.operState = oper;
  const master = attrs.u32(IFLA_MASTER);
  if (master !== undefined && master !== 0) link.masterIndex = master;
  const lower = attrs.u32(IFLA_LINK);
  if (lower !== undefined && lower !== hdr.index) link.linkIndex = lower;
  const info = attrs.nested(IFLA_LINKINFO);
  if (info !== undefined) {
    const kind = info.str(IFLA_INFO_KIND);
    if (kind !== undefined) link.kind = kind;
    const slaveKind = info.str(IFLA_INFO_SLAVE_KIND);
    if (slaveKind !== undefined) link.slaveKind = slaveKind;
    const data = info.nested(IFLA_INFO_DATA);
    if (kind === 'vxlan' && data !== undefined) link.vxlan = decodeVxlan(data);
  }
  return link;
}

// rtnetlink nests are sent without NLA_F_NESTED, as iproute2 does: the kernel's link policies
// never required it, and byte-for-byte equality with iproute2 makes the codec easy to verify.

/** Attributes every new link may carry. */
export interface CommonLinkOptions {
  mtu?: number;
  mac?: string;
  /** ifindex of the master (bridge) */
  master?: number;
  /** Create the link inside the namespace this fd refers to. */
  netnsFd?: number;
  up?: boolean;
}

function commonAttrs(name: string, o: CommonLinkOptions): Buffer[] {
  const out: Buffer[] = [];
  if (o.mtu !== undefined) out.push(attrU32(IFLA_MTU, o.mtu));
  if (o.mac !== undefined) out.push(attr(IFLA_ADDRESS, macToBytes(o.mac)));
  out.push(attrString(IFLA_IFNAME, name));
  if (o.master !== undefined) out.push(attrU32(IFLA_MASTER, o.master));
  if (o.netnsFd !== undefined) out.push(attrU32(IFLA_NET_NS_FD, o.netnsFd));
  return out;
}

function upHeader(o: CommonLinkOptions): Buffer {
  return encodeIfInfo(o.up === true ? { flags: IFF_UP, change: IFF_UP } : {});
}

/** RTM_NEWLINK payload for a bridge. */
export function encodeNewBridge(name: string, o: CommonLinkOptions = {}): Buffer {
  return Buffer.concat([upHeader(o), ...commonAttrs(name, o), attrNested(IFLA_LINKINFO, [attrString(IFLA_INFO_KIND, 'bridge', false)], false)]);
}

export interface VethPeerOptions extends CommonLinkOptions {
  name: string;
}

/** RTM_NEWLINK payload for a veth pair; the peer is a full ifinfomsg + attributes nested in
 *  VETH_INFO_PEER, which is why it can live in another namespace from birth. */
export function encodeNewVeth(name: string, o: CommonLinkOptions, peer: VethPeerOptions): Buffer {
  const peerPayload = Buffer.concat([upHeader(peer), ...commonAttrs(peer.name, peer)]);
  return Buffer.concat([
    upHeader(o),
    ...commonAttrs(name, o),
    attrNested(
      IFLA_LINKINFO,
      [attrString(IFLA_INFO_KIND, 'veth', false), attrNested(IFLA_INFO_DATA, [attr(VETH_INFO_PEER, peerPayload)], false)],
      false,
    ),
  ]);
}

export interface VxlanOptions extends CommonLinkOptions {
  vni?: number;
  local?: string;
  port?: number;
  /** Default in the kernel is on; weave programs the FDB and turns it off. */
  learning?: boolean;
  /** ifindex of the underlay device */
  dev?: number;
  ttl?: number;
  external?: boolean;
  /** IFLA_VXLAN_DF: outer DF bit; 'set' makes oversized tunnelled packets fail instead of fragmenting. */
  df?: 'unset' | 'set' | 'inherit';
}

export function encodeNewVxlan(name: string, o: VxlanOptions): Buffer {
  const data: Buffer[] = [];
  if (o.vni !== undefined) data.push(attrU32(IFLA_VXLAN_ID, o.vni));
  if (o.local !== undefined) {
    const b = ipToBytes(o.local);
    // IPv6 local uses IFLA_VXLAN_LOCAL6 (17)
    data.push(attr(b.length === 4 ? IFLA_VXLAN_LOCAL : 17, b));
  }
  if (o.dev !== undefined) data.push(attrU32(IFLA_VXLAN_LINK, o.dev));
  if (o.ttl !== undefined) data.push(attrU8(IFLA_VXLAN_TTL, o.ttl));
  if (o.learning !== undefined) data.push(attrU8(IFLA_VXLAN_LEARNING, o.learning ? 1 : 0));
  if (o.port !== undefined) data.push(attrBe16(IFLA_VXLAN_PORT, o.port));
  if (o.external === true) data.push(attrU8(IFLA_VXLAN_COLLECT_METADATA, 1));
  // IFLA_VXLAN_DF (29): 0 unset, 1 set, 2 inherit
  if (o.df !== undefined) data.push(attrU8(29, o.df === 'unset' ? 0 : o.df === 'set' ? 1 : 2));
  return Buffer.concat([
    upHeader(o),
    ...commonAttrs(name, o),
    attrNested(IFLA_LINKINFO, [attrString(IFLA_INFO_KIND, 'vxlan', false), attrNested(IFLA_INFO_DATA, data, false)], false),
  ]);
}

export interface LinkChanges {
  up?: boolean;
  mtu?: number;
  mac?: string;
  /** ifindex of a new master; 0 or null removes the link from its master. */
  master?: number | null;
  netnsFd?: number;
  name?: string;
  /** ipv4/conf/<link>/arp_ignore, set over netlink: /proc/sys may be read-only (in a managed
   *  plugin it is). */
  arpIgnore?: number;
}

/** RTM_NEWLINK (without CREATE) payload that changes an existing link by index. */
export function encodeSetLink(index: number, c: LinkChanges): Buffer {
  const hdr =
    c.up === undefined
      ? encodeIfInfo({ index })
      : encodeIfInfo({ index, flags: c.up ? IFF_UP : 0, change: IFF_UP });
  const attrs: Buffer[] = [];
  if (c.name !== undefined) attrs.push(attrString(IFLA_IFNAME, c.name));
  if (c.mtu !== undefined) attrs.push(attrU32(IFLA_MTU, c.mtu));
  if (c.mac !== undefined) attrs.push(attr(IFLA_ADDRESS, macToBytes(c.mac)));
  if (c.master !== undefined) attrs.push(attrU32(IFLA_MASTER, c.master ?? 0));
  if (c.netnsFd !== undefined) attrs.push(attrU32(IFLA_NET_NS_FD, c.netnsFd));
  if (c.arpIgnore !== undefined) {
    const conf = attrNested(IFLA_INET_CONF, [attrU32(IPV4_DEVCONF_ARP_IGNORE, c.arpIgnore)], false);
    attrs.push(attrNested(IFLA_AF_SPEC, [attrNested(AF_INET, [conf], false)], false));
  }
  return Buffer.concat([hdr, ...attrs]);
}

const IFLA_BR_MCAST_SNOOPING = 23;

export interface BridgeSettings {
  /** IGMP snooping: off makes the bridge flood every multicast frame to every port, as
   *  Weave's overlay expects (a snooped group would stop reaching the overlay ports). */
  multicastSnooping?: boolean;
}

/** RTM_NEWLINK payload changing an existing bridge (`ip link set X type bridge ...`). */
export function encodeBridgeSettings(index: number, b: BridgeSettings): Buffer {
  const data: Buffer[] = [];
  if (b.multicastSnooping !== undefined) data.push(attrU8(IFLA_BR_MCAST_SNOOPING, b.multicastSnooping ? 1 : 0));
  return Buffer.concat([
    encodeIfInfo({ index }),
    attrNested(IFLA_LINKINFO, [attrString(IFLA_INFO_KIND, 'bridge', false), attrNested(IFLA_INFO_DATA, data, false)], false),
  ]);
}

/** Payload selecting a link by index or by name (RTM_GETLINK, RTM_DELLINK). */
export function encodeLinkSelector(which: number | string): Buffer {
  if (typeof which === 'number') return encodeIfInfo({ index: which });
  return Buffer.concat([encodeIfInfo(), attrString(IFLA_IFNAME, which)]);
}
