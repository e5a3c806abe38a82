import { GobError } from './gob-error.ts';

const MAX_UINT64 = (1n << 64n) - 1n;
const MIN_INT64 = -(1n << 63n);
const MAX_INT64 = (1n << 63n) - 1n;

/** Growable output buffer with gob's primitive encodings. */
export class ByteWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  get length(): number {
    return this.len;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** Values below 128 are one byte; otherwise the negated byte count, then big-endian bytes. */
  uint(v: number | bigint): void {
    if (typeof v === 'number') {
      // An unsafe number may already have lost its low bits; make the caller say bigint.
      if (!Number.isSafeInteger(v) || v < 0) throw new GobError(`cannot encode ${v} as a gob unsigned integer (use a bigint beyond 2^53)`);
      if (v < 0x80) return this.byte(v);
      const tmp: number[] = [];
      let x = v;
      while (x > 0) {
        tmp.push(x % 256);
        x = Math.floor(x / 256);
      }
      this.byte(256 - tmp.length);
      for (let i = tmp.length - 1; i >= 0; i--) this.byte(tmp[i]!);
      return;
    }
    if (v < 0n || v > MAX_UINT64) throw new GobError(`cannot encode ${v} as a gob unsigned integer`);
    if (v < 0x80n) return this.byte(Number(v));
    const tmp: number[] = [];
    let x = v;
    while (x > 0n) {
      tmp.push(Number(x & 0xffn));
      x >>= 8n;
    }
    this.byte(256 - tmp.length);
    for (let i = tmp.length - 1; i >= 0; i--) this.byte(tmp[i]!);
  }

  /** Sign in the low bit: non-negative i → i<<1, negative i → (^i)<<1 | 1. */
  int(v: number | bigint): void {
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new GobError(`cannot encode ${v} as a gob integer (use a bigint beyond 2^53)`);
      if (Math.abs(v) <= 2 ** 51) return this.uint(v >= 0 ? v * 2 : -2 * v - 1);
      return this.int(BigInt(v));
    }
    if (v < MIN_INT64 || v > MAX_INT64) throw new GobError(`cannot encode ${v} as a gob integer (int64)`);
    this.uint(v >= 0n ? v << 1n : ((-v - 1n) << 1n) | 1n);
  }

  /** IEEE-754 double, byte-reversed so small integral values encode short. */
  float(v: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleLE(v);
    this.uint(b.readBigUInt64BE());
  }

  /** Length-prefixed bytes ([]byte, string). */
  counted(bytes: Uint8Array): void {
    this.uint(bytes.length);
    this.raw(bytes);
  }

  string(s: string): void {
    this.counted(Buffer.from(s, 'utf8'));
  }

  /** A copy of what was written. */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }

  /** A view of what was written (valid until the next write). */
  view(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}
