// Reads VXLAN network identifiers out of a classic pcap file of Ethernet frames (what tcpdump -w
// writes on a veth), so tests can check what went over the underlay.
import { readFileSync } from 'node:fs';

export interface VxlanFrame {
  srcIp: string;
  dstIp: string;
  dstPort: number;
  vni: number;
  /** The IP header's don't-fragment bit. */
  df: boolean;
}

export function vxlanFramesInPcap(path: string, udpPort: number): VxlanFrame[] {
  const buf = readFileSync(path);
  if (buf.length < 24) return [];
  const le = buf.readUInt32LE(0) === 0xa1b2c3d4;
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const out: VxlanFrame[] = [];
  for (let off = 24; off + 16 <= buf.length; ) {
    const caplen = u32(off + 8);
    const f = buf.subarray(off + 16, off + 16 + caplen);
    off += 16 + caplen;
    if (f.length < 14 + 20 || f.readUInt16BE(12) !== 0x0800) continue;
    const ihl = (f.readUInt8(14) & 0x0f) * 4;
    if (f.readUInt8(14 + 9) !== 17) continue;
    const udp = 14 + ihl;
    if (f.length < udp + 16 || f.readUInt16BE(udp + 2) !== udpPort) continue;
    out.push({
      srcIp: [...f.subarray(26, 30)].join('.'),
      dstIp: [...f.subarray(30, 34)].join('.'),
      dstPort: udpPort,
      vni: f.readUIntBE(udp + 8 + 4, 3),
      df: (f.readUInt16BE(14 + 6) & 0x4000) !== 0,
    });
  }
  return out;
}
