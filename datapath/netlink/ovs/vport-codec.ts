// ovs_vport messages: create (netdev, internal, VXLAN with its UDP port), look up, set the
// upcall port id, delete, and the vport reply.
import { attr, attrNested, attrString, attrU16, attrU32 } from '../attributes.ts';
import type { AttrSet } from '../attributes.ts';
import { readU32, writeU32 } from '../host-endian.ts';
import {
  OVS_TUNNEL_ATTR_DST_PORT,
  OVS_VPORT_ATTR_IFINDEX,
  OVS_VPORT_ATTR_NAME,
  OVS_VPORT_ATTR_OPTIONS,
  OVS_VPORT_ATTR_PORT_NO,
  OVS_VPORT_ATTR_TYPE,
  OVS_VPORT_ATTR_UPCALL_PID,
  OVS_VPORT_TYPE_GENEVE,
  OVS_VPORT_TYPE_GRE,
  OVS_VPORT_TYPE_INTERNAL,
  OVS_VPORT_TYPE_NETDEV,
  OVS_VPORT_TYPE_VXLAN,
} from './constants.ts';
import { encodeOvsHeader } from './ovs-header.ts';

export type VportType = 'netdev' | 'internal' | 'gre' | 'vxlan' | 'geneve' | 'unknown';

const TYPE_NUMBERS: Record<Exclude<VportType, 'unknown'>, number> = {
  netdev: OVS_VPORT_TYPE_NETDEV,
  internal: OVS_VPORT_TYPE_INTERNAL,
  gre: OVS_VPORT_TYPE_GRE,
  vxlan: OVS_VPORT_TYPE_VXLAN,
  geneve: OVS_VPORT_TYPE_GENEVE,
};

export interface VportSpec {
  name: string;
  type: Exclude<VportType, 'unknown'>;
  /** Netlink port ids that receive this port's misses (0 = drop them). */
  upcallPids: number[];
  /** UDP port of a tunnel vport (VXLAN: Weave's 6784). */
  dstPort?: number;
}

export interface VportInfo {
  dpIfindex: number;
  portNo: number;
  type: VportType;
  name: string;
  upcallPids: number[];
  dstPort?: number;
  ifindex?: number;
}

function upcallPidsAttr(pids: readonly number[]): Buffer {
  const b = Buffer.alloc(4 * pids.length);
  pids.forEach((pid, i) => writeU32(b, pid, 4 * i));
  return attr(OVS_VPORT_ATTR_UPCALL_PID, b);
}

export function encodeVportNew(dpIfindex: number, spec: VportSpec): Buffer {
  const parts = [
    encodeOvsHeader(dpIfindex),
    attrString(OVS_VPORT_ATTR_NAME, spec.name),
    attrU32(OVS_VPORT_ATTR_TYPE, TYPE_NUMBERS[spec.type]),
    upcallPidsAttr(spec.upcallPids),
  ];
  // The kernel reads the tunnel port host-endian (nla_get_u16), unlike tunnel key ports.
  if (spec.dstPort !== undefined) parts.push(attrNested(OVS_VPORT_ATTR_OPTIONS, [attrU16(OVS_TUNNEL_ATTR_DST_PORT, spec.dstPort)], false));
  return Buffer.concat(parts);
}

/** OVS_VPORT_CMD_SET of the upcall port ids of port `portNo`. */
export function encodeVportSetUpcall(dpIfindex: number, portNo: number, upcallPids: readonly number[]): Buffer {
  return Buffer.concat([encodeOvsHeader(dpIfindex), attrU32(OVS_VPORT_ATTR_PORT_NO, portNo), upcallPidsAttr(upcallPids)]);
}

/** GET or DEL by port number. */
export function encodeVportByNumber(dpIfindex: number, portNo: number): Buffer {
  return Buffer.concat([encodeOvsHeader(dpIfindex), attrU32(OVS_VPORT_ATTR_PORT_NO, portNo)]);
}

/** GET or DEL by name: vport names are per network namespace, so no datapath is needed. */
export function encodeVportByName(name: string): Buffer {
  return Buffer.concat([encodeOvsHeader(0), attrString(OVS_VPORT_ATTR_NAME, name)]);
}

/** Dump of one datapath's vports. */
export function encodeVportDump(dpIfindex: number): Buffer {
  return encodeOvsHeader(dpIfindex);
}

export function decodeVport(dpIfindex: number, attrs: AttrSet): VportInfo {
  const typeNo = attrs.u32(OVS_VPORT_ATTR_TYPE);
  const type = (Object.entries(TYPE_NUMBERS).find(([, n]) => n === typeNo)?.[0] ?? 'unknown') as VportType;
  const pids = attrs.get(OVS_VPORT_ATTR_UPCALL_PID) ?? Buffer.alloc(0);
  const info: VportInfo = {
    dpIfindex,
    portNo: attrs.u32(OVS_VPORT_ATTR_PORT_NO) ?? -1,
    type,
    name: attrs.str(OVS_VPORT_ATTR_NAME) ?? '',
    upcallPids: Array.from({ length: Math.floor(pids.length / 4) }, (_, i) => readU32(pids, 4 * i)),
  };
  const dstPort = attrs.nested(OVS_VPORT_ATTR_OPTIONS)?.u16(OVS_TUNNEL_ATTR_DST_PORT);
  if (dstPort !== undefined) info.dstPort = dstPort;
  const ifindex = attrs.u32(OVS_VPORT_ATTR_IFINDEX);
  if (ifindex !== undefined) info.ifindex = ifindex;
  return info;
}
