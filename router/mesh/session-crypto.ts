// Key agreement and per-message sealing of the TCP control connection (Weave's
// protocol_crypto.go): an ephemeral NaCl box key pair per connection, a session key of
// SHA-256(box.before(theirPublic, ourSecret) ‖ password), and secretbox per framed message.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

/** The part of sodium-native we use (it ships no types; a local interface keeps us from
 *  declaring an ambient module that another part may declare differently). */
interface Sodium {
  crypto_box_keypair(pk: Buffer, sk: Buffer): void;
  crypto_scalarmult(q: Buffer, n: Buffer, p: Buffer): void;
  crypto_stream_salsa20(c: Buffer, n: Buffer, k: Buffer): void;
  crypto_secretbox_easy(c: Buffer, m: Buffer, n: Buffer, k: Buffer): void;
  crypto_secretbox_open_easy(m: Buffer, c: Buffer, n: Buffer, k: Buffer): boolean;
}
const sodium = createRequire(import.meta.url)('sodium-native') as Sodium;

export const PUBLIC_KEY_SIZE = 32;
export const NONCE_SIZE = 24;
export const SECRETBOX_TAG_SIZE = 16;

export interface BoxKeyPair {
  publicKey: Buffer;
  secretKey: Buffer;
}

export function generateKeyPair(): BoxKeyPair {
  const publicKey = Buffer.alloc(PUBLIC_KEY_SIZE);
  const secretKey = Buffer.alloc(32);
  sodium.crypto_box_keypair(publicKey, secretKey);
  return { publicKey, secretKey };
}

// "expand 32-byte k", the Salsa20 constants, little-endian words
const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574] as const;

/** NaCl's box.before (Go's box.Precompute): HSalsa20 keyed with the X25519 result, over a zero
 *  input. sodium-native exposes no HSalsa20, but with a zero input HSalsa20's state is exactly
 *  Salsa20's for nonce 0 and counter 0, and HSalsa20's words are that block's words 0,5,10,15,
 *  6,7,8,9 before the final feed-forward; so we take the first keystream block and subtract the
 *  input words back out (0 at 6..9, sigma at the diagonal). Rejects low-order public keys
 *  (libsodium refuses an all-zero shared secret), which Go would accept. */
export function boxBeforeNm(theirPublic: Uint8Array, ourSecret: Uint8Array): Buffer {
  const shared = Buffer.alloc(32);
  try {
    sodium.crypto_scalarmult(shared, toBuffer(ourSecret), toBuffer(theirPublic));
  } catch {
    throw new Error('remote public key is a low-order point');
  }
  const block = Buffer.alloc(64);
  sodium.crypto_stream_salsa20(block, Buffer.alloc(8), shared);
  const out = Buffer.alloc(32);
  for (let i = 0; i < 4; i++) {
    out.writeUInt32LE((block.readUInt32LE(i * 20) - SIGMA[i]!) >>> 0, i * 4);
    out.writeUInt32LE(block.readUInt32LE(24 + i * 4), 16 + i * 4);
  }
  shared.fill(0);
  return out;
}

/** box.before is HSalsa20 over the X25519 result; a raw scalar multiplication would not match Go's box.Precompute. */
export function formSessionKey(theirPublic: Uint8Array, ourSecret: Uint8Array, password: Uint8Array): Buffer {
  if (theirPublic.length !== PUBLIC_KEY_SIZE) throw new Error(`remote public key has ${theirPublic.length} bytes`);
  const shared = boxBeforeNm(theirPublic, ourSecret);
  return createHash('sha256').update(shared).update(password).digest();
}

/** Byte 0: bit 7 = the sender dialled the connection, bit 6 = TCP (keeps these nonces apart from
 *  the overlay's, which may share the key); bytes 16..23 = big-endian sequence number. */
export function tcpNonce(senderIsOutbound: boolean, seq: bigint, out: Buffer = Buffer.alloc(NONCE_SIZE)): Buffer {
  out.fill(0);
  out[0] = (senderIsOutbound ? 0x80 : 0) | 0x40;
  out.writeBigUInt64BE(seq, 16);
  return out;
}

/** One direction of an encrypted connection: the key, whose side sends, and the next sequence number. */
export class TcpCryptoState {
  private seq = 0n;
  private readonly nonce = Buffer.alloc(NONCE_SIZE);

  constructor(
    private readonly key: Buffer,
    private readonly senderIsOutbound: boolean,
  ) {
    if (key.length !== 32) throw new Error(`session key has ${key.length} bytes`);
  }

  get sequence(): bigint {
    return this.seq;
  }

  seal(message: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(message.length + SECRETBOX_TAG_SIZE);
    sodium.crypto_secretbox_easy(out, toBuffer(message), tcpNonce(this.senderIsOutbound, this.seq, this.nonce), this.key);
    this.seq++;
    return out;
  }

  /** The plaintext, or undefined when authentication fails (the sequence number then stays put). */
  open(sealed: Uint8Array): Buffer | undefined {
    if (sealed.length < SECRETBOX_TAG_SIZE) return undefined;
    const out = Buffer.allocUnsafe(sealed.length - SECRETBOX_TAG_SIZE);
    const ok = sodium.crypto_secretbox_open_easy(out, toBuffer(sealed), tcpNonce(this.senderIsOutbound, this.seq, this.nonce), this.key);
    if (!ok) return undefined;
    this.seq++;
    return out;
  }
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** The sending and receiving states of one end: we send with our polarity, the remote with the opposite. */
export function connectionCrypto(sessionKey: Buffer, outbound: boolean): { sender: TcpCryptoState; receiver: TcpCryptoState } {
  return { sender: new TcpCryptoState(sessionKey, outbound), receiver: new TcpCryptoState(sessionKey, !outbound) };
}
