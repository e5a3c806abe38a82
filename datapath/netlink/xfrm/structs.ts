// The fixed C structs of XFRM netlink messages (<linux/xfrm.h>), encoded and decoded at their
// offsets. xfrm_address_t is always 16 bytes; an IPv4 address takes the first 4.
import { readU16, readU64, writeU16, writeU64 } from '../host-endian.ts';
import { bytesToIp, ipFamily, ipToBytes } from '../inet.ts';
import { AF_INET } from '../rtnetlink/constants.ts';
import { XFRM_INF } from './constants.ts';

export function writeXfrmAddress(buf: Buffer, ip: string, off: number): void {
  ipToBytes(ip).copy(buf, off);
}

export function readXfrmAddress(buf: Buffer, off: number, family: number): string {
  return bytesToIp(buf.subarray(off, off + (family === AF_INET ? 4 : 16)));
}

/** xfrm_selector: which packets a policy (or an SA's selector) applies to. */
export interface XfrmSelector {
  src: string;
  dst: string;
  srcPrefix: number;
  dstPrefix: number;
  /** IP protocol (17 = UDP), 0 = any. */
  proto: number;
  /** Ports in host numbers; 0 with mask 0 = any. */
  srcPort?: number;
  dstPort?: number;
}

/** Writes a selector at `off`; undefined leaves the 56 bytes zero (matches everything). */
export function writeSelector(buf: Buffer, sel: XfrmSelector | undefined, off: number): void {
  if (!sel) return;
  writeXfrmAddress(buf, sel.dst, off);
  writeXfrmAddress(buf, sel.src, off + 16);
  if (sel.dstPort !== undefined) {
    buf.writeUInt16BE(sel.dstPort, off + 32);
    buf.writeUInt16BE(0xffff, off + 34);
  }
  if (sel.srcPort !== undefined) {
    buf.writeUInt16BE(sel.srcPort, off + 36);
    buf.writeUInt16BE(0xffff, off + 38);
  }
  writeU16(buf, ipFamily(sel.src), off + 40);
  buf.writeUInt8(sel.dstPrefix, off + 42);
  buf.writeUInt8(sel.srcPrefix, off + 43);
  buf.writeUInt8(sel.proto, off + 44);
}

/** Reads a selector; undefined if it is all zero. The kernel leaves the family of an SA's
 *  selector 0 while filling its addresses, so SAs pass their own family as `fallbackFamily`. */
export function readSelector(buf: Buffer, off: number, fallbackFamily = 0): XfrmSelector | undefined {
  if (buf.subarray(off, off + 56).every((b) => b === 0)) return undefined;
  const family = readU16(buf, off + 40) || fallbackFamily;
  if (family === 0) return undefined;
  const sel: XfrmSelector = {
    dst: readXfrmAddress(buf, off, family),
    src: readXfrmAddress(buf, off + 16, family),
    dstPrefix: buf.readUInt8(off + 42),
    srcPrefix: buf.readUInt8(off + 43),
    proto: buf.readUInt8(off + 44),
  };
  if (buf.readUInt16BE(off + 34) !== 0) sel.dstPort = buf.readUInt16BE(off + 32);
  if (buf.readUInt16BE(off + 38) !== 0) sel.srcPort = buf.readUInt16BE(off + 36);
  return sel;
}

/** xfrm_lifetime_cfg with no limits: soft/hard byte and packet limits infinite, no expiry. */
export function writeUnlimitedLifetime(buf: Buffer, off: number): void {
  for (let i = 0; i < 4; i++) writeU64(buf, XFRM_INF, off + i * 8);
}

/** Seconds after which the kernel deletes the state (hard_add_expires_seconds), 0 = never. */
export function readHardAddExpires(buf: Buffer, off: number): number {
  return Number(readU64(buf, off + 40));
}
