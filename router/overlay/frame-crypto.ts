// Sealing and opening sleeve packets (Weave Net 2.x frame_crypto.go). A connection with a
// session key uses NaCl secretbox with the key as is; without one, bodies travel in clear.
//
// Nonce (24 bytes): byte 0 bit 7 = the sender dialled the TCP connection (bit 6 stays clear so
// these nonces never collide with the TCP stream's); bytes 16..23 = the 8 bytes carried in clear
// in front of the box: a 63-bit sequence number, bit 63 set for the DF stream. DF and non-DF
// packets take different sockets and may be reordered against each other, so each has its own
// counter and its own replay window at the receiver.
import { createRequire } from 'node:module';
import { ReplayWindow } from './replay-window.ts';
import { NAME_SIZE, PLAIN_PACKET_OVERHEAD, SEALED_PACKET_OVERHEAD, SECRETBOX_TAG, SEQ_SIZE } from './sleeve-packet.ts';

/** The part of sodium-native we use (it ships no types; a local interface avoids an ambient
 *  module declaration that could clash with another part's). */
interface Secretbox {
  crypto_secretbox_easy(c: Buffer, m: Buffer, n: Buffer, k: Buffer): void;
  crypto_secretbox_open_easy(m: Buffer, c: Buffer, n: Buffer, k: Buffer): boolean;
}
const sodium = createRequire(import.meta.url)('sodium-native') as Secretbox;

const NONCE_SIZE = 24;
const DF_BIT_HI = 0x80000000;

/** Turns a batch of frame records into a UDP payload for one stream. */
export interface PacketSealer {
  /** Bytes a packet carries beyond its frame records (6 plain, 30 sealed). */
  readonly packetOverhead: number;
  /** Writes [our name][body of frames[0, framesLen)] at out[outOff]; returns the length. */
  seal(ourName: number, frames: Buffer, framesLen: number, out: Buffer, outOff: number): number;
}

export class PlainSealer implements PacketSealer {
  readonly packetOverhead = PLAIN_PACKET_OVERHEAD;
  seal(ourName: number, frames: Buffer, framesLen: number, out: Buffer, outOff: number): number {
    out.writeUIntBE(ourName, outOff, NAME_SIZE);
    frames.copy(out, outOff + NAME_SIZE, 0, framesLen);
    return NAME_SIZE + framesLen;
  }
}

export class SecretboxSealer implements PacketSealer {
  readonly packetOverhead = SEALED_PACKET_OVERHEAD;
  private readonly nonce = Buffer.alloc(NONCE_SIZE);
  private readonly key: Buffer;
  /** Next sequence number; a double is exact far beyond any connection's life (2^53). */
  private seq = 0;

  constructor(
    key: Uint8Array,
    outbound: boolean,
    private readonly df: boolean,
  ) {
    if (key.length !== 32) throw new Error('session key must be 32 bytes');
    this.key = Buffer.from(key);
    if (outbound) this.nonce[0] = 0x80;
  }

  seal(ourName: number, frames: Buffer, framesLen: number, out: Buffer, outOff: number): number {
    const hi = Math.floor(this.seq / 0x100000000) + (this.df ? DF_BIT_HI : 0);
    const lo = this.seq >>> 0;
    this.seq++;
    out.writeUIntBE(ourName, outOff, NAME_SIZE);
    out.writeUInt32BE(hi >>> 0, outOff + NAME_SIZE);
    out.writeUInt32BE(lo, outOff + NAME_SIZE + 4);
    this.nonce.writeUInt32BE(hi >>> 0, 16);
    this.nonce.writeUInt32BE(lo, 20);
    const boxOff = outOff + NAME_SIZE + SEQ_SIZE;
    sodium.crypto_secretbox_easy(
      out.subarray(boxOff, boxOff + SECRETBOX_TAG + framesLen),
      frames.subarray(0, framesLen),
      this.nonce,
      this.key,
    );
    return SEALED_PACKET_OVERHEAD + framesLen;
  }
}

export type OpenResult = 'ok' | 'short' | 'forged' | 'replay';

/** Gives the frame records of a received body (after the 6-byte sender name). */
export interface PacketOpener {
  /** On 'ok', the body is bodyBuf[bodyStart, bodyEnd). */
  open(packet: Buffer, start: number, end: number): OpenResult;
  bodyBuf: Buffer;
  bodyStart: number;
  bodyEnd: number;
}

export class PlainOpener implements PacketOpener {
  bodyBuf: Buffer = Buffer.alloc(0);
  bodyStart = 0;
  bodyEnd = 0;
  open(packet: Buffer, start: number, end: number): OpenResult {
    this.bodyBuf = packet;
    this.bodyStart = start;
    this.bodyEnd = end;
    return 'ok';
  }
}

class Stream {
  readonly nonce = Buffer.alloc(NONCE_SIZE);
  readonly window = new ReplayWindow();
}

export class SecretboxOpener implements PacketOpener {
  bodyBuf: Buffer;
  bodyStart = 0;
  bodyEnd = 0;
  private readonly key: Buffer;
  private readonly plain = new Stream();
  private readonly dfStream = new Stream();

  /** `outbound`: WE dialled the connection, so the remote's nonces have bit 7 clear. */
  constructor(key: Uint8Array, outbound: boolean, maxBody = 65536) {
    if (key.length !== 32) throw new Error('session key must be 32 bytes');
    this.key = Buffer.from(key);
    if (!outbound) {
      this.plain.nonce[0] = 0x80;
      this.dfStream.nonce[0] = 0x80;
    }
    this.bodyBuf = Buffer.allocUnsafeSlow(maxBody);
  }

  open(packet: Buffer, start: number, end: number): OpenResult {
    if (end - start < SEQ_SIZE + SECRETBOX_TAG) return 'short';
    const hi = packet.readUInt32BE(start);
    const lo = packet.readUInt32BE(start + 4);
    const stream = (hi & DF_BIT_HI) !== 0 ? this.dfStream : this.plain;
    packet.copy(stream.nonce, 16, start, start + SEQ_SIZE);
    const clearLen = end - start - SEQ_SIZE - SECRETBOX_TAG;
    if (clearLen > this.bodyBuf.length) return 'short';
    const ok = sodium.crypto_secretbox_open_easy(
      this.bodyBuf.subarray(0, clearLen),
      packet.subarray(start + SEQ_SIZE, end),
      stream.nonce,
      this.key,
    );
    if (!ok) return 'forged';
    // state advances only now that the packet is known to be genuine
    if (!stream.window.admit(hi, lo)) return 'replay';
    this.bodyStart = 0;
    this.bodyEnd = clearLen;
    return 'ok';
  }
}
