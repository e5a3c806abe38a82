// The protocol introduction on a fresh TCP connection (Weave's protocol.go, version 2):
// "weave" + min + max version bytes each way, then one crypto byte (plus our ephemeral public
// key when a password is set), then the features map as the first length-prefixed message,
// sealed when encrypted.
import type { Socket } from 'node:net';
import { decodeFeatures, encodeFeatures } from './features.ts';
import { encodeFrame, FrameTooLargeError, LENGTH_PREFIX_SIZE, MAX_TCP_MSG_SIZE } from './framing.ts';
import { connectionCrypto, formSessionKey, generateKeyPair, PUBLIC_KEY_SIZE } from './session-crypto.ts';
import type { TcpCryptoState } from './session-crypto.ts';
import { SocketInput } from './socket-input.ts';

export const PROTOCOL_MAGIC = Buffer.from('weave', 'ascii');
export const HEADER_SIZE = PROTOCOL_MAGIC.length + 2;
/** Versions we implement. Weave offers 1..2; we do not speak the legacy gob-stream version 1. */
export const PROTOCOL_MIN_VERSION = 2;
export const PROTOCOL_MAX_VERSION = 2;
export const HEADER_TIMEOUT_MS = 10_000;
export const FEATURES_TIMEOUT_MS = 60_000;

export class HandshakeError extends Error {
  override name = 'HandshakeError';
}

export interface IntroParams {
  socket: Socket;
  outbound: boolean;
  /** Our complete features map. */
  features: Record<string, string>;
  password?: Uint8Array;
  minVersion?: number;
  maxVersion?: number;
  headerTimeoutMs?: number;
  featuresTimeoutMs?: number;
}

export interface IntroResult {
  version: number;
  /** The remote's features map as sent. */
  features: Record<string, string>;
  sessionKey?: Buffer;
  sender?: TcpCryptoState;
  receiver?: TcpCryptoState;
  /** Bytes received after the features message; they belong to the connection's frame stream. */
  leftover: Buffer;
}

export function encodeHeader(minVersion: number, maxVersion: number): Buffer {
  return Buffer.concat([PROTOCOL_MAGIC, Buffer.from([minVersion, maxVersion])]);
}

/** The version both sides will speak: the highest in the overlap of the two ranges. */
export function negotiateVersion(header: Buffer, ourMin: number, ourMax: number): number {
  if (!header.subarray(0, PROTOCOL_MAGIC.length).equals(PROTOCOL_MAGIC)) {
    throw new HandshakeError(`remote protocol header not recognised: [${[...header.subarray(0, PROTOCOL_MAGIC.length)].join(' ')}]`);
  }
  const theirMin = header[PROTOCOL_MAGIC.length]!;
  const theirMax = header[PROTOCOL_MAGIC.length + 1]!;
  const min = Math.max(theirMin, ourMin);
  const max = Math.min(theirMax, ourMax);
  if (min > max) {
    throw new HandshakeError(`remote version range [${theirMin},${theirMax}] is incompatible with ours [${ourMin},${ourMax}]`);
  }
  return max;
}

export async function exchangeIntro(params: IntroParams): Promise<IntroResult> {
  const { socket, outbound, password } = params;
  const minVersion = params.minVersion ?? PROTOCOL_MIN_VERSION;
  const maxVersion = params.maxVersion ?? PROTOCOL_MAX_VERSION;
  const headerTimeout = params.headerTimeoutMs ?? HEADER_TIMEOUT_MS;
  const featuresTimeout = params.featuresTimeoutMs ?? FEATURES_TIMEOUT_MS;
  if (minVersion < 1 || maxVersion > 255 || minVersion > maxVersion) throw new HandshakeError(`bad version range [${minVersion},${maxVersion}]`);

  const input = new SocketInput(socket);
  let released = false;
  const release = (): Buffer => {
    released = true;
    return input.release();
  };
  try {
    // Nothing we send depends on what the remote says except the sealing of encrypted features,
    // so everything else leaves in one write before we read: the plain introduction takes one
    // round trip instead of three, the encrypted one two. Weave reads each part with exact-size
    // reads, so parts that arrive early just wait in its socket buffer.
    const keys = password ? generateKeyPair() : undefined;
    const flagBytes = keys ? Buffer.concat([Buffer.from([1]), keys.publicKey]) : Buffer.from([0]);
    const ours = encodeFeatures(params.features);
    socket.write(Buffer.concat([encodeHeader(minVersion, maxVersion), flagBytes, ...(keys ? [] : [encodeFrame(ours)])]));
    const header = await input.read(HEADER_SIZE, headerTimeout, 'the remote protocol header');
    const version = negotiateVersion(header, minVersion, maxVersion);
    if (version !== 2) {
      throw new HandshakeError(`protocol version ${version} (legacy) is not implemented; the remote must speak version 2`);
    }

    const flag = (await input.read(1, featuresTimeout, 'the remote encryption flag'))[0]!;
    let crypto: { sender: TcpCryptoState; receiver: TcpCryptoState } | undefined;
    let sessionKey: Buffer | undefined;
    if (flag === 0) {
      if (keys) throw new HandshakeError('encryption mismatch: we have a password but the remote does not (it asked for an unencrypted connection)');
    } else if (flag === 1) {
      if (!keys || !password) throw new HandshakeError('encryption mismatch: the remote has a password and we do not (it asked for an encrypted connection)');
      const theirPublic = await input.read(PUBLIC_KEY_SIZE, featuresTimeout, 'the remote public key');
      sessionKey = formSessionKey(theirPublic, keys.secretKey, password);
      crypto = connectionCrypto(sessionKey, outbound);
    } else {
      throw new HandshakeError(`bad encryption flag ${flag}`);
    }

    if (crypto) socket.write(encodeFrame(crypto.sender.seal(ours)));
    const len = (await input.read(LENGTH_PREFIX_SIZE, featuresTimeout, 'the remote features')).readUInt32BE(0);
    if (len > MAX_TCP_MSG_SIZE) throw new FrameTooLargeError(`incoming message exceeds maximum size: ${len} > ${MAX_TCP_MSG_SIZE}`);
    const body = await input.read(len, featuresTimeout, 'the remote features');
    const plain = crypto ? crypto.receiver.open(body) : body;
    if (!plain) throw new HandshakeError('unable to decrypt the remote features: the passwords differ');
    const features = decodeFeatures(plain);
    const result: IntroResult = { version, features, leftover: release() };
    if (crypto && sessionKey) {
      result.sessionKey = sessionKey;
      result.sender = crypto.sender;
      result.receiver = crypto.receiver;
    }
    return result;
  } finally {
    if (!released) input.release();
  }
}
