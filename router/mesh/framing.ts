// V2 message framing: 4-byte big-endian length, then the body (sealed when encrypted).
// Weave refuses anything over 10 MiB in either direction.

export const MAX_TCP_MSG_SIZE = 10 * 1024 * 1024;
export const LENGTH_PREFIX_SIZE = 4;

export class FrameTooLargeError extends Error {
  override name = 'FrameTooLargeError';
}

export function encodeFrame(body: Uint8Array, max = MAX_TCP_MSG_SIZE): Buffer {
  if (body.length > max) throw new FrameTooLargeError(`outgoing message exceeds maximum size: ${body.length} > ${max}`);
  const out = Buffer.allocUnsafe(LENGTH_PREFIX_SIZE + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, LENGTH_PREFIX_SIZE);
  return out;
}

/** Reassembles frames from a byte stream; the length is checked before any body is buffered. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly max = MAX_TCP_MSG_SIZE) {}

  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next whole frame body, or undefined if more bytes are needed. Throws FrameTooLargeError. */
  next(): Buffer | undefined {
    if (this.buffered < LENGTH_PREFIX_SIZE) return undefined;
    const head = this.peek(LENGTH_PREFIX_SIZE);
    const len = head.readUInt32BE(0);
    if (len > this.max) throw new FrameTooLargeError(`incoming message exceeds maximum size: ${len} > ${this.max}`);
    if (this.buffered < LENGTH_PREFIX_SIZE + len) return undefined;
    this.consume(LENGTH_PREFIX_SIZE);
    return this.consume(len);
  }

  /** Whatever is buffered and not yet framed (handed over when a reader changes hands). */
  drain(): Buffer {
    return this.consume(this.buffered);
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private consume(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const joined = Buffer.concat(this.chunks);
      out = joined.subarray(0, n);
      this.chunks = joined.length > n ? [joined.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}
