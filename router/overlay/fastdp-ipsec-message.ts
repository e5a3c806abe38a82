// Weave's fastdp IPsec setup, as pure functions: the per-direction ESP key and the
// CryptoInitSARemote control message (weave-reference §5.7, weave net/ipsec).
//
// Each peer, for the direction towards itself, picks a random 32-byte nonce and an inbound SPI
// the kernel allocated, installs the inbound SA with key = HKDF-SHA256(IKM = the mesh session
// key, salt = nonce, info = its own PeerName as 8 big-endian bytes) and sends the nonce and SPI
// to the remote, which derives the same key for its outbound SA.
//
// CryptoInitSARemote body (sub-tag 1 of the fastdp sub-forwarder inside tag 7), 64 bytes:
//   0  32 bytes  nonce
//  32  u32 BE    SPI
//  36  28 bytes  zero. Weave sizes the SPI field as 32 bytes and checks the length exactly, so
//                the padding is part of the wire format.
import crypto from 'node:crypto';
import type { PeerName } from '../mesh/contract.ts';
import { peerNameToBigInt } from '../mesh/peer-name.ts';

/** Sub-tag of the fastdp control message carrying the nonce and SPI (Weave's is 1, after the
 *  heartbeat ack's 0). */
export const FASTDP_CRYPTO_INIT_SA_REMOTE = 1;
export const IPSEC_NONCE_BYTES = 32;
export const INIT_SA_REMOTE_BYTES = 64;
/** AES-256 key followed by the 4-byte GCM salt rfc4106 takes. */
export const IPSEC_KEY_BYTES = 36;

export interface InitSaRemote {
  nonce: Buffer;
  spi: number;
}

export function encodeInitSaRemote(m: InitSaRemote): Buffer {
  if (m.nonce.length !== IPSEC_NONCE_BYTES) throw new Error(`IPsec nonce must be ${IPSEC_NONCE_BYTES} bytes, got ${m.nonce.length}`);
  const b = Buffer.alloc(INIT_SA_REMOTE_BYTES);
  m.nonce.copy(b, 0);
  b.writeUInt32BE(m.spi >>> 0, IPSEC_NONCE_BYTES);
  return b;
}

/** Throws on a body of any other length than Weave's 64 bytes (as Weave does). */
export function decodeInitSaRemote(body: Buffer): InitSaRemote {
  if (body.length !== INIT_SA_REMOTE_BYTES) {
    throw new Error(`CryptoInitSARemote: invalid payload size ${body.length} (want ${INIT_SA_REMOTE_BYTES})`);
  }
  return { nonce: Buffer.from(body.subarray(0, IPSEC_NONCE_BYTES)), spi: body.readUInt32BE(IPSEC_NONCE_BYTES) };
}

/** The ESP key of the direction whose receiving peer is `receiver`. */
export function deriveIpsecKey(sessionKey: Uint8Array, nonce: Uint8Array, receiver: PeerName): Buffer {
  if (sessionKey.length !== 32) throw new Error(`session key must be 32 bytes, got ${sessionKey.length}`);
  if (nonce.length !== IPSEC_NONCE_BYTES) throw new Error(`IPsec nonce must be ${IPSEC_NONCE_BYTES} bytes, got ${nonce.length}`);
  const info = Buffer.alloc(8);
  info.writeBigUInt64BE(peerNameToBigInt(receiver));
  return Buffer.from(crypto.hkdfSync('sha256', sessionKey, nonce, info, IPSEC_KEY_BYTES));
}

export function randomIpsecNonce(): Buffer {
  return crypto.randomBytes(IPSEC_NONCE_BYTES);
}
