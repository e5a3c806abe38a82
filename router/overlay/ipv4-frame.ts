// The little IPv4-in-Ethernet the sleeve needs for PMTU handling: is a frame IPv4 with DF set,
// an ICMP "fragmentation needed" reply for a frame too big for the overlay path (RFC 1191),
// and fragmenting a non-DF packet ourselves when the underlay cannot be trusted to.
const ETH = 14;
const ETHERTYPE_IPV4 = 0x0800;
const IP_DF = 0x4000;
const IP_MF = 0x2000;

/** 0 = not IPv4, 1 = IPv4 without DF, 2 = IPv4 with DF. */
export function ipv4DfState(buf: Buffer, off: number, len: number): 0 | 1 | 2 {
  if (len < ETH + 20 || buf.readUInt16BE(off + 12) !== ETHERTYPE_IPV4 || buf[off + ETH]! >> 4 !== 4) return 0;
  return (buf.readUInt16BE(off + ETH + 6) & IP_DF) !== 0 ? 2 : 1;
}

/** The 16-bit ones' complement checksum (IP header, ICMP). */
export function internetChecksum(buf: Buffer, off: number, len: number): number {
  let sum = 0;
  let i = off;
  for (; i + 1 < off + len; i += 2) sum += buf.readUInt16BE(i);
  if (i < off + len) sum += buf[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Builds the Ethernet frame of an ICMP type 3 code 4 carrying `mtu`, sent back to the source
 *  of the IPv4 frame at buf[off, off+len) as if from its destination. Undefined if the frame is
 *  not IPv4 with a sane header. */
export function icmpFragNeeded(buf: Buffer, off: number, len: number, mtu: number): Buffer | undefined {
  if (ipv4DfState(buf, off, len) === 0) return undefined;
  const ip = off + ETH;
  const ihl = (buf[ip]! & 0x0f) * 4;
  if (ihl < 20 || len < ETH + ihl) return undefined;
  // RFC 792: the offending header plus the first 8 bytes of its payload
  const quoted = Math.min(ihl + 8, len - ETH);
  const icmpLen = 8 + quoted;
  const total = 20 + icmpLen;
  const out = Buffer.alloc(ETH + total);
  buf.copy(out, 0, off + 6, off + 12); // to the original source MAC
  buf.copy(out, 6, off, off + 6); // from the original destination MAC
  out.writeUInt16BE(ETHERTYPE_IPV4, 12);
  const h = ETH;
  out[h] = 0x45;
  out.writeUInt16BE(total, h + 2);
  out[h + 8] = 64; // TTL
  out[h + 9] = 1; // ICMP
  buf.copy(out, h + 12, ip + 16, ip + 20); // src = original destination
  buf.copy(out, h + 16, ip + 12, ip + 16); // dst = original source
  out.writeUInt16BE(internetChecksum(out, h, 20), h + 10);
  const c = h + 20;
  out[c] = 3;
  out[c + 1] = 4;
  out.writeUInt16BE(mtu & 0xffff, c + 6);
  buf.copy(out, c + 8, ip, ip + quoted);
  out.writeUInt16BE(internetChecksum(out, c, icmpLen), c + 2);
  return out;
}

/** Splits the IPv4 packet of an Ethernet frame into fragments whose IP packets fit `mtu`,
 *  handing each frame to `emit` from one reused scratch buffer. Returns the number of fragments,
 *  or 0 when the frame cannot be fragmented (not IPv4, DF set, bad header, tiny MTU). */
export function fragmentIpv4(buf: Buffer, off: number, len: number, mtu: number, scratch: Buffer, emit: (frame: Buffer, off: number, len: number) => void): number {
  if (ipv4DfState(buf, off, len) !== 1) return 0;
  const ip = off + ETH;
  const ihl = (buf[ip]! & 0x0f) * 4;
  const totalLen = buf.readUInt16BE(ip + 2);
  if (ihl < 20 || totalLen < ihl || ETH + totalLen > len) return 0;
  const maxSeg = (mtu - ihl) & ~7;
  if (maxSeg <= 0 || scratch.length < ETH + ihl + maxSeg) return 0;
  const flagsFrag = buf.readUInt16BE(ip + 6);
  const origMf = flagsFrag & IP_MF;
  const baseOffset = (flagsFrag & 0x1fff) * 8;
  const payloadLen = totalLen - ihl;
  let count = 0;
  for (let pos = 0; pos < payloadLen; pos += maxSeg) {
    const last = pos + maxSeg >= payloadLen;
    const seg = last ? payloadLen - pos : maxSeg;
    buf.copy(scratch, 0, off, ip + ihl); // Ethernet + IP header (with options)
    scratch.writeUInt16BE(ihl + seg, ETH + 2);
    scratch.writeUInt16BE((last ? origMf : IP_MF) | ((baseOffset + pos) / 8), ETH + 6);
    scratch.writeUInt16BE(0, ETH + 10);
    scratch.writeUInt16BE(internetChecksum(scratch, ETH, ihl), ETH + 10);
    buf.copy(scratch, ETH + ihl, ip + ihl + pos, ip + ihl + pos + seg);
    emit(scratch, 0, ETH + ihl + seg);
    count++;
  }
  return count;
}
