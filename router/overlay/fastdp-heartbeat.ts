// Pure codecs of the fastdp health channel: the heartbeat payload carried over the kernel path
// (after the 14-byte Ethernet header the fast path adds, zero padded to the frame size) and the
// acknowledgement sent back over TCP (tag 7, the fastdp sub-forwarder's index, sub-tag 0).
//
// Heartbeat payload (big-endian):
//   0  "WVFD"            magic
//   4  u8  version (1)
//   5  u8  reserved (0)
//   6  6 bytes           sender's peer name
//  12  u64 connection UID (identical at both ends)
//  20  u16 frame size    the size the sender made the frame (Ethernet header included)
//  22  u32 sequence
// Ack body: u16 frame size, u32 sequence — of the heartbeat being acknowledged.
import { formatPeerName, peerNameToBytes } from '../mesh/peer-name.ts';

export const HEARTBEAT_PAYLOAD_SIZE = 26;
export const ACK_BODY_SIZE = 6;
/** Sub-tag of the heartbeat acknowledgement inside tag 7 (Weave's fastdp HeartbeatAck is 0). */
export const FASTDP_HEARTBEAT_ACK = 0;
const MAGIC = 0x57564644; // "WVFD"
const VERSION = 1;

export interface FastdpHeartbeat {
  sender: string;
  connUid: bigint;
  frameSize: number;
  seq: number;
}

export function encodeHeartbeat(h: FastdpHeartbeat): Buffer {
  const b = Buffer.alloc(HEARTBEAT_PAYLOAD_SIZE);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt8(VERSION, 4);
  peerNameToBytes(h.sender).copy(b, 6);
  b.writeBigUInt64BE(h.connUid, 12);
  b.writeUInt16BE(h.frameSize, 20);
  b.writeUInt32BE(h.seq >>> 0, 22);
  return b;
}

/** Decodes a received payload (padding allowed); undefined if it is not a heartbeat of ours or
 *  the frame it came in does not have the size the sender gave it. */
export function decodeHeartbeat(payload: Buffer, frameSize: number): FastdpHeartbeat | undefined {
  if (payload.length < HEARTBEAT_PAYLOAD_SIZE) return undefined;
  if (payload.readUInt32BE(0) !== MAGIC || payload.readUInt8(4) !== VERSION) return undefined;
  const size = payload.readUInt16BE(20);
  if (size !== frameSize) return undefined;
  return {
    sender: formatPeerName(payload.subarray(6, 12)),
    connUid: payload.readBigUInt64BE(12),
    frameSize: size,
    seq: payload.readUInt32BE(22),
  };
}

export function encodeAck(frameSize: number, seq: number): Buffer {
  const b = Buffer.alloc(ACK_BODY_SIZE);
  b.writeUInt16BE(frameSize, 0);
  b.writeUInt32BE(seq >>> 0, 2);
  return b;
}

export function decodeAck(body: Buffer): { frameSize: number; seq: number } | undefined {
  if (body.length < ACK_BODY_SIZE) return undefined;
  return { frameSize: body.readUInt16BE(0), seq: body.readUInt32BE(2) };
}
