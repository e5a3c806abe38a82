// nlmsghdr encoding/decoding and the NLMSG_ERROR payload.
import {
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSG_HDRLEN,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  nlAlign,
} from './constants.ts';
import { readI32, readU16, readU32, writeU16, writeU32 } from './host-endian.ts';
import { AttrSet } from './attributes.ts';

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Everything after the 16-byte header (family header + attributes). */
  payload: Buffer;
}

export function encodeMessage(msg: NetlinkMessage): Buffer {
  const len = NLMSG_HDRLEN + msg.payload.length;
  const out = Buffer.alloc(nlAlign(len));
  writeU32(out, len, 0);
  writeU16(out, msg.type, 4);
  writeU16(out, msg.flags, 6);
  writeU32(out, msg.seq, 8);
  writeU32(out, msg.pid, 12);
  msg.payload.copy(out, NLMSG_HDRLEN);
  return out;
}

/** Splits one received datagram into messages. Throws on a truncated header or length. */
export function decodeMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = readU32(buf, off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) {
      throw new Error(`malformed netlink message at offset ${off}: length ${len}, ${buf.length - off} bytes left`);
    }
    out.push({
      type: readU16(buf, off + 4),
      flags: readU16(buf, off + 6),
      seq: readU32(buf, off + 8),
      pid: readU32(buf, off + 12),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += nlAlign(len);
  }
  return out;
}

export interface ErrorPayload {
  /** 0 = ack; otherwise a positive errno. */
  errno: number;
  /** Header of the request this answers. */
  request: { len: number; type: number; flags: number; seq: number; pid: number };
  /** Extended ack message (NETLINK_EXT_ACK), if the kernel sent one. */
  message?: string;
  /** Offset of the offending attribute in the request, if the kernel sent one. */
  offset?: number;
}

/** Decodes struct nlmsgerr (+ extended ack TLVs). `flags` are the NLMSG_ERROR message's flags. */
export function decodeErrorPayload(payload: Buffer, flags: number): ErrorPayload {
  if (payload.length < 4 + NLMSG_HDRLEN) throw new Error(`short NLMSG_ERROR payload (${payload.length} bytes)`);
  const error = readI32(payload, 0);
  const request = {
    len: readU32(payload, 4),
    type: readU16(payload, 8),
    flags: readU16(payload, 10),
    seq: readU32(payload, 12),
    pid: readU32(payload, 16),
  };
  const result: ErrorPayload = { errno: -error, request };
  if ((flags & NLM_F_ACK_TLVS) !== 0) {
    // Without NLM_F_CAPPED the whole request is echoed before the TLVs.
    const echoed = (flags & NLM_F_CAPPED) !== 0 ? NLMSG_HDRLEN : nlAlign(request.len);
    const tlvStart = 4 + echoed;
    if (tlvStart <= payload.length) {
      const tlvs = new AttrSet(payload.subarray(tlvStart));
      const message = tlvs.str(NLMSGERR_ATTR_MSG);
      if (message !== undefined) result.message = message;
      const offset = tlvs.u32(NLMSGERR_ATTR_OFFS);
      if (offset !== undefined) result.offset = offset;
    }
  }
  return result;
}
