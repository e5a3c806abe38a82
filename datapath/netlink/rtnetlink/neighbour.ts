// Neighbours and bridge/vxlan FDB entries (RTM_*NEIGH): struct ndmsg + NDA_* attributes.
// An FDB entry is a neighbour of family AF_BRIDGE whose NDA_LLADDR is the MAC; on a vxlan
// device NDA_DST names the remote VTEP (NTF_SELF = program the device's own table).
import { AttrSet, attr, attrBe16, attrU32 } from '../attributes.ts';
import { readI32, readU16, writeI32, writeU16 } from '../host-endian.ts';
import { bytesToIp, bytesToMac, ipFamily, ipToBytes, macToBytes } from '../inet.ts';
import { AF_BRIDGE, NDA_DST, NDA_LLADDR, NDA_MASTER, NDA_PORT, NDA_VNI, NDMSG_LEN, NTF_SELF, NUD_NOARP, NUD_PERMANENT } from './constants.ts';

export interface NdHeader {
  family: number;
  index: number;
  state: number;
  flags: number;
  type: number;
}

export function encodeNdMsg(h: NdHeader): Buffer {
  const b = Buffer.alloc(NDMSG_LEN);
  b.writeUInt8(h.family, 0);
  writeI32(b, h.index, 4);
  writeU16(b, h.state, 8);
  b.writeUInt8(h.flags, 10);
  b.writeUInt8(h.type, 11);
  return b;
}

export interface Neighbour {
  family: number;
  index: number;
  state: number;
  flags: number;
  /** NDA_DST: the IP (ARP/ND entries) or the remote VTEP (vxlan FDB) */
  dst?: string;
  /** NDA_LLADDR */
  mac?: string;
  master?: number;
  vni?: number;
  port?: number;
}

export interface NeighbourSpec {
  index: number;
  /** IP neighbour (ARP/ND): the IP. Ignored for FDB entries unless they carry a VTEP. */
  ip?: string;
  mac: string;
  /** NUD_* state; default NUD_PERMANENT */
  state?: number;
}

export function encodeNeighbour(spec: NeighbourSpec): Buffer {
  if (spec.ip === undefined) throw new Error('IP neighbour needs an ip');
  const hdr = encodeNdMsg({ family: ipFamily(spec.ip), index: spec.index, state: spec.state ?? NUD_PERMANENT, flags: 0, type: 0 });
  return Buffer.concat([hdr, attr(NDA_DST, ipToBytes(spec.ip)), attr(NDA_LLADDR, macToBytes(spec.mac))]);
}

export interface FdbSpec {
  /** ifindex of the port (vxlan device, veth) */
  index: number;
  mac: string;
  /** remote VTEP for vxlan devices */
  dst?: string;
  vni?: number;
  port?: number;
  /** NTF_* flags; default NTF_SELF (the device's own FDB, as `bridge fdb ... self`) */
  flags?: number;
  /** NUD_* state; default NUD_PERMANENT | NUD_NOARP (what `bridge fdb ... permanent` sends) */
  state?: number;
  /** bridge ifindex for NTF_MASTER entries */
  master?: number;
}

export function encodeFdb(spec: FdbSpec): Buffer {
  const hdr = encodeNdMsg({ family: AF_BRIDGE, index: spec.index, state: spec.state ?? NUD_PERMANENT | NUD_NOARP, flags: spec.flags ?? NTF_SELF, type: 0 });
  const attrs = [attr(NDA_LLADDR, macToBytes(spec.mac))];
  if (spec.dst !== undefined) attrs.push(attr(NDA_DST, ipToBytes(spec.dst)));
  if (spec.vni !== undefined) attrs.push(attrU32(NDA_VNI, spec.vni));
  if (spec.port !== undefined) attrs.push(attrBe16(NDA_PORT, spec.port));
  if (spec.master !== undefined) attrs.push(attrU32(NDA_MASTER, spec.master));
  return Buffer.concat([hdr, ...attrs]);
}

export function decodeNeighbour(payload: Buffer): Neighbour {
  if (payload.length < NDMSG_LEN) throw new Error(`short ndmsg (${payload.length} bytes)`);
  const attrs = new AttrSet(payload.subarray(NDMSG_LEN));
  const n: Neighbour = {
    family: payload.readUInt8(0),
    index: readI32(payload, 4),
    state: readU16(payload, 8),
    flags: payload.readUInt8(10),
  };
  const dst = attrs.get(NDA_DST);
  if (dst !== undefined) n.dst = bytesToIp(dst);
  const mac = attrs.get(NDA_LLADDR);
  if (mac !== undefined) n.mac = bytesToMac(mac);
  const master = attrs.u32(NDA_MASTER);
  if (master !== undefined) n.master = master;
  const vni = attrs.u32(NDA_VNI);
  if (vni !== undefined) n.vni = vni;
  const port = attrs.be16(NDA_PORT);
  if (port !== undefined) n.port = port;
  return n;
}
