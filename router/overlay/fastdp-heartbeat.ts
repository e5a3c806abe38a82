// Pure codecs of the fastdp health channel: the heartbeat payload carried over the kernel path
// (after the 14-byte Ethernet header the fast path adds, zero padded to the frame size) and the
// acknowledgement sent back over TCP (tag 7, the fastdp sub-forwarder's index, sub-tag 0).
//
// The payload starts as Weave's does, so a Weave router accepts our heartbeats and we accept
// theirs; Weave reads the first 10 bytes and ignores the rest, where our extension lives.
//
// Heartbeat payload (big-endian):
//   0  u64 connection UID (identical at both ends)      } Weave's heartbeat
//   8  u16 frame size  (the size the sender made it)    }
//  10  "WVFD"          magic of the extension
//  14  u8  version (2)
//  15  u8  reserved (0)
//  16  6 bytes         sender's peer name
//  22  u32 sequence
// Ack body: ours u16 frame size + u32 sequence of the heartbeat acknowledged; Weave's is empty
// (it acknowledges once, the first heartbeat it gets).
import { formatPeerName, peerNameToBytes } from '../mesh/peer-name.ts';

/** What Weave puts in a heartbeat: the connection UID and the frame size. */
export const WEAVE_HEARTBEAT_SIZE = 10;
export const HEARTBEAT_PAYLOAD_SIZE = 26;
export const ACK_BODY_SIZE = 6;
/** Sub-tag of the heartbeat acknowledgement inside tag 7 (Weave's fastdp HeartbeatAck is 0). */
export const FASTDP_HEARTBEAT_ACK = 0;
const MAGIC = 0x57564644; // "WVFD"
const VERSION = 2;

export interface FastdpHeartbeat {
  connUid: bigint;
  frameSize: number;
  /** Present in our heartbeats, absent in a Weave router's. */
  ext?: { sender: string; seq: number };
}

export function encodeHeartbeat(h: FastdpHeartbeat): Buffer {
  const b = Buffer.alloc(h.ext ? HEARTBEAT_PAYLOAD_SIZE : WEAVE_HEARTBEAT_SIZE);
  b.writeBigUInt64BE(h.connUid, 0);
  b.writeUInt16BE(h.frameSize, 8);
  if (h.ext) {
    b.writeUInt32BE(MAGIC, 10);
    b.writeUInt8(VERSION, 14);
    peerNameToBytes(h.ext.sender).copy(b, 16);
    b.writeUInt32BE(h.ext.seq >>> 0, 22);
  }
  return b;
}

/** Decodes a received payload (padding allowed); undefined if it is not a heartbeat or the
 *  frame it came in does not have the size the sender gave it (Weave's check too). */
export function decodeHeartbeat(payload: Buffer, frameSize: number): FastdpHeartbeat | undefined {
  if (payload.length < WEAVE_HEARTBEAT_SIZE) return undefined;
  const size = payload.readUInt16BE(8);
  if (size !== frameSize) return undefined;
  const hb: FastdpHeartbeat = { connUid: payload.readBigUInt64BE(0), frameSize: size };
  if (payload.length >= HEARTBEAT_PAYLOAD_SIZE && payload.readUInt32BE(10) === MAGIC && payload.readUInt8(14) === VERSION) {
    hb.ext = { sender: formatPeerName(payload.subarray(16, 22)), seq: payload.readUInt32BE(22) };
  }
  return hb;
}

export function encodeAck(frameSize: number, seq: number): Buffer {
  const b = Buffer.alloc(ACK_BODY_SIZE);
  b.writeUInt16BE(frameSize, 0);
  b.writeUInt32BE(seq >>> 0, 2);
  return b;
}

/** Our ack's fields; `{}` for Weave's empty ack; undefined for anything else. */
export function decodeAck(body: Buffer): { frameSize?: number; seq?: number } | undefined {
  if (body.length === 0) return {};
  if (body.length < ACK_BODY_SIZE) return undefined;
  return { frameSize: body.readUInt16BE(0), seq: body.readUInt32BE(2) };
}
