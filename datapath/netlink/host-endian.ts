// Netlink headers and most attributes are in host byte order. These helpers pick LE or BE once,
// so codecs stay correct on big-endian hosts too (network-order fields use the BE methods directly).
import os from 'node:os';

const little = os.endianness() === 'LE';

export function readU16(buf: Buffer, offset: number): number {
  return little ? buf.readUInt16LE(offset) : buf.readUInt16BE(offset);
}
export function readU32(buf: Buffer, offset: number): number {
  return little ? buf.readUInt32LE(offset) : buf.readUInt32BE(offset);
}
export function readI32(buf: Buffer, offset: number): number {
  return little ? buf.readInt32LE(offset) : buf.readInt32BE(offset);
}
export function readU64(buf: Buffer, offset: number): bigint {
  return little ? buf.readBigUInt64LE(offset) : buf.readBigUInt64BE(offset);
}
export function writeU16(buf: Buffer, value: number, offset: number): void {
  if (little) buf.writeUInt16LE(value, offset);
  else buf.writeUInt16BE(value, offset);
}
export function writeU32(buf: Buffer, value: number, offset: number): void {
  if (little) buf.writeUInt32LE(value >>> 0, offset);
  else buf.writeUInt32BE(value >>> 0, offset);
}
export function writeI32(buf: Buffer, value: number, offset: number): void {
  if (little) buf.writeInt32LE(value, offset);
  else buf.writeInt32BE(value, offset);
}
export function writeU64(buf: Buffer, value: bigint, offset: number): void {
  if (little) buf.writeBigUInt64LE(value, offset);
  else buf.writeBigUInt64BE(value, offset);
}
