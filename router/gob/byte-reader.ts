import { GobError } from './gob-error.ts';

/** Cursor over one gob message with gob's primitive decodings; every read is bounds-checked. */
export class ByteReader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  byte(): number {
    if (this.pos >= this.end) throw new GobError('unexpected end of gob message');
    return this.buf[this.pos++]!;
  }

  take(n: number): Buffer {
    if (n > this.remaining) throw new GobError(`gob message truncated: need ${n} bytes, have ${this.remaining}`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  uintBig(): bigint {
    const b = this.byte();
    if (b < 0x80) return BigInt(b);
    const n = 256 - b;
    if (n > 8) throw new GobError(`gob unsigned integer has ${n} bytes (max 8)`);
    let v = 0n;
    for (const byte of this.take(n)) v = (v << 8n) | BigInt(byte);
    return v;
  }

  uint(): number {
    const b = this.byte();
    if (b < 0x80) return b;
    const n = 256 - b;
    if (n > 8) throw new GobError(`gob unsigned integer has ${n} bytes (max 8)`);
    const bytes = this.take(n);
    if (n <= 6) return bytes.readUIntBE(0, n);
    let v = 0n;
    for (const byte of bytes) v = (v << 8n) | BigInt(byte);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GobError(`gob integer ${v} exceeds 2^53; use a 64-bit type`);
    return Number(v);
  }

  intBig(): bigint {
    const u = this.uintBig();
    return u & 1n ? ~(u >> 1n) : u >> 1n;
  }

  int(): number {
    const u = this.uintBig();
    const v = u & 1n ? ~(u >> 1n) : u >> 1n;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new GobError(`gob integer ${v} exceeds 2^53; use a 64-bit type`);
    }
    return Number(v);
  }

  float(): number {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(this.uintBig());
    return b.readDoubleLE();
  }

  /** A count of following items; each takes at least one byte, so a larger count is corrupt. */
  count(): number {
    const n = this.uint();
    if (n > this.remaining) throw new GobError(`gob count ${n} exceeds the ${this.remaining} bytes left`);
    return n;
  }

  counted(): Buffer {
    return this.take(this.uint());
  }

  string(): string {
    return this.counted().toString('utf8');
  }
}
