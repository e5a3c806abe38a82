// Sleeve wire format (Weave Net 2.x, router/sleeve.go + frame_crypto.go):
//
//   UDP payload = [6: PeerName of the sending hop][body]
//   plain body  = frame*
//   frame       = [6: original source peer][6: final destination peer][2: length BE][frame bytes]
//   sealed body = [8: seq BE, bit 63 = DF stream][secretbox: 16-byte tag, then ciphertext of frame*]
//
// Everything here works on caller-owned buffers with offsets, so the data path allocates
// nothing per frame.
import { NAME_SIZE } from './peer-name-cache.ts';

export { NAME_SIZE };

/** IPv4 + UDP headers. */
export const UDP_OVERHEAD = 28;
export const ETHERNET_OVERHEAD = 14;
/** src name + dst name + length, in front of every frame in a body. */
export const FRAME_OVERHEAD = NAME_SIZE + NAME_SIZE + 2;
/** The sending hop's name in front of every packet. */
export const PLAIN_PACKET_OVERHEAD = NAME_SIZE;
export const SECRETBOX_TAG = 16;
export const SEQ_SIZE = 8;
export const SEALED_PACKET_OVERHEAD = NAME_SIZE + SEQ_SIZE + SECRETBOX_TAG;
/** Largest UDP payload over IPv4. */
export const MAX_UDP_PAYLOAD = 65535 - UDP_OVERHEAD;

/** Special frames (all-zero Ethernet header) are told apart by their length. */
export const HEARTBEAT_FRAME_SIZE = ETHERNET_OVERHEAD + 8;
export const FRAG_TEST_SIZE = 60001;
export const PMTU_DISCOVERY_SIZE = 60000;

/** Bytes of underlay packet per overlay IP packet on the DF path, beyond the IP packet
 *  itself: UDP/IP + packet overhead + frame overhead + inner Ethernet header (Weave's
 *  overheadDF: 62 plain, 86 sealed). */
export function dfOverhead(packetOverhead: number): number {
  return UDP_OVERHEAD + packetOverhead + FRAME_OVERHEAD + ETHERNET_OVERHEAD;
}

/** Appends one frame record at buf[off]; returns the new end. */
export function writeFrame(buf: Buffer, off: number, src: number, dst: number, frame: Buffer, frameOff = 0, frameLen = frame.length - frameOff): number {
  buf.writeUIntBE(src, off, NAME_SIZE);
  buf.writeUIntBE(dst, off + NAME_SIZE, NAME_SIZE);
  buf.writeUInt16BE(frameLen, off + 2 * NAME_SIZE);
  // copy() with offsets: no view object per frame
  frame.copy(buf, off + FRAME_OVERHEAD, frameOff, frameOff + frameLen);
  return off + FRAME_OVERHEAD + frameLen;
}

/** Receives each frame of a body: src/dst peer names as 48-bit numbers, and where the frame
 *  lies in `buf`. */
export type FrameVisitor = (buf: Buffer, src: number, dst: number, frameOff: number, frameLen: number) => void;

/** Walks the frames of a plain body buf[start, end). Returns an error description for a
 *  truncated record or trailing bytes (frames before the damage were already visited, as Weave
 *  does), undefined when the body was well formed. */
export function forEachFrame(buf: Buffer, start: number, end: number, visit: FrameVisitor): string | undefined {
  let off = start;
  while (end - off >= FRAME_OVERHEAD) {
    const src = buf.readUIntBE(off, NAME_SIZE);
    const dst = buf.readUIntBE(off + NAME_SIZE, NAME_SIZE);
    const len = buf.readUInt16BE(off + 2 * NAME_SIZE);
    off += FRAME_OVERHEAD;
    if (end - off < len) return `too short; expected frame of length ${len}, got ${end - off}`;
    visit(buf, src, dst, off, len);
    off += len;
  }
  if (off < end) return `${end - off} octets of trailing garbage`;
  return undefined;
}

/** A frame whose 14-byte Ethernet header is all zeros is a sleeve control frame. */
export function isSpecialFrame(buf: Buffer, off: number, len: number): boolean {
  if (len < ETHERNET_OVERHEAD) return false;
  for (let i = off; i < off + ETHERNET_OVERHEAD; i++) if (buf[i] !== 0) return false;
  return true;
}

export type SpecialKind = 'heartbeat' | 'frag-test' | 'pmtu-test';

export function specialKind(len: number): SpecialKind {
  if (len === HEARTBEAT_FRAME_SIZE) return 'heartbeat';
  if (len === FRAG_TEST_SIZE) return 'frag-test';
  return 'pmtu-test';
}

/** Heartbeat frame: 14 zero bytes + the connection UID, big-endian. */
export function heartbeatFrame(connUid: bigint): Buffer {
  const f = Buffer.alloc(HEARTBEAT_FRAME_SIZE);
  f.writeBigUInt64BE(BigInt.asUintN(64, connUid), ETHERNET_OVERHEAD);
  return f;
}

export function heartbeatUid(buf: Buffer, off: number): bigint {
  return buf.readBigUInt64BE(off + ETHERNET_OVERHEAD);
}

/** PMTUVerified control message body: the tested overlay MTU (frame length - 14), 2 bytes BE. */
export function pmtuVerifiedBody(frameLen: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE((frameLen - ETHERNET_OVERHEAD) & 0xffff, 0);
  return b;
}

export function allZero(buf: Buffer, off: number, len: number): boolean {
  for (let i = off; i < off + len; i++) if (buf[i] !== 0) return false;
  return true;
}
