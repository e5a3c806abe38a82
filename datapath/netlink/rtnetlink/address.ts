// Addresses (RTM_*ADDR): struct ifaddrmsg + IFA_* attributes.
import { AttrSet, attr, attrString } from '../attributes.ts';
import { readU32, writeU32 } from '../host-endian.ts';
import { bytesToIp, ipToBytes, parseCidr } from '../inet.ts';
import { AF_INET, IFADDRMSG_LEN, IFA_ADDRESS, IFA_BROADCAST, IFA_LABEL, IFA_LOCAL, RT_SCOPE_UNIVERSE } from './constants.ts';

export interface Address {
  index: number;
  family: number;
  /** "10.32.0.1" */
  address: string;
  prefixLength: number;
  /** "10.32.0.1/12" */
  cidr: string;
  scope: number;
  label?: string;
  /** Peer address of point-to-point links (IFA_ADDRESS when it differs from IFA_LOCAL). */
  peer?: string;
}

export function encodeIfAddr(family: number, prefixLength: number, index: number, scope = RT_SCOPE_UNIVERSE, flags = 0): Buffer {
  const b = Buffer.alloc(IFADDRMSG_LEN);
  b.writeUInt8(family, 0);
  b.writeUInt8(prefixLength, 1);
  b.writeUInt8(flags, 2);
  b.writeUInt8(scope, 3);
  writeU32(b, index, 4);
  return b;
}

export interface AddressOptions {
  label?: string;
  /** Add the IPv4 broadcast address (default true): the kernel does not derive it, iproute2's
   *  `brd +` does, so we compute it too. */
  broadcast?: boolean;
  scope?: number;
}

function ipv4Broadcast(address: string, prefixLength: number): Buffer {
  const b = ipToBytes(address);
  const n = b.readUInt32BE(0);
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  const out = Buffer.alloc(4);
  out.writeUInt32BE(((n & mask) | (~mask >>> 0)) >>> 0, 0);
  return out;
}

/** RTM_NEWADDR / RTM_DELADDR payload for "address/prefix" on ifindex `index`. */
export function encodeAddress(index: number, cidr: string, o: AddressOptions = {}): Buffer {
  const c = parseCidr(cidr);
  const bytes = ipToBytes(c.address);
  const parts = [encodeIfAddr(c.family, c.prefixLength, index, o.scope ?? RT_SCOPE_UNIVERSE), attr(IFA_LOCAL, bytes), attr(IFA_ADDRESS, bytes)];
  if (c.family === AF_INET && o.broadcast !== false && c.prefixLength < 31) {
    parts.push(attr(IFA_BROADCAST, ipv4Broadcast(c.address, c.prefixLength)));
  }
  if (o.label !== undefined) parts.push(attrString(IFA_LABEL, o.label));
  return Buffer.concat(parts);
}

export function decodeAddress(payload: Buffer): Address {
  if (payload.length < IFADDRMSG_LEN) throw new Error(`short ifaddrmsg (${payload.length} bytes)`);
  const family = payload.readUInt8(0);
  const prefixLength = payload.readUInt8(1);
  const scope = payload.readUInt8(3);
  const index = readU32(payload, 4);
  const attrs = new AttrSet(payload.subarray(IFADDRMSG_LEN));
  const local = attrs.get(IFA_LOCAL);
  const addr = attrs.get(IFA_ADDRESS);
  // IPv4 puts the interface's own address in IFA_LOCAL; IPv6 only sends IFA_ADDRESS.
  const own = local ?? addr;
  const address = own !== undefined ? bytesToIp(own) : '';
  const out: Address = { index, family, address, prefixLength, cidr: `${address}/${prefixLength}`, scope };
  const label = attrs.str(IFA_LABEL);
  if (label !== undefined) out.label = label;
  if (local !== undefined && addr !== undefined && !local.equals(addr)) out.peer = bytesToIp(addr);
  return out;
}
