// Weave's VXLAN tunnel id for a packet between two peers: 12 bits of each short peer id, the
// destination in the upper half, so VNI = (dst << 12) | src. For broadcasts dst is the next hop.

export const SHORT_ID_BITS = 12;
const SHORT_ID_MASK = (1 << SHORT_ID_BITS) - 1;

export function weaveVni(srcShortId: number, dstShortId: number): number {
  for (const id of [srcShortId, dstShortId]) {
    if (!Number.isInteger(id) || id < 0 || id > SHORT_ID_MASK) throw new RangeError(`short id ${id} is not a 12-bit number`);
  }
  return (dstShortId << SHORT_ID_BITS) | srcShortId;
}

export function peersFromVni(vni: number | bigint): { src: number; dst: number } {
  const v = Number(BigInt(vni) & 0xffffffn);
  return { src: v & SHORT_ID_MASK, dst: (v >> SHORT_ID_BITS) & SHORT_ID_MASK };
}
