// nlattr (type-length-value, 4-byte aligned) encoding and decoding, including nested attributes.
import { NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK, nlAlign } from './constants.ts';
import { readU16, readU32, readU64, writeU16, writeU32, writeU64 } from './host-endian.ts';

/** One encoded attribute, padded to 4 bytes; concatenate them to build a payload. */
export function attr(type: number, data: Buffer): Buffer {
  const len = NLA_HDRLEN + data.length;
  const out = Buffer.alloc(nlAlign(len));
  writeU16(out, len, 0);
  writeU16(out, type, 2);
  data.copy(out, NLA_HDRLEN);
  return out;
}

export function attrU8(type: number, value: number): Buffer {
  return attr(type, Buffer.from([value & 0xff]));
}

export function attrU16(type: number, value: number): Buffer {
  const b = Buffer.alloc(2);
  writeU16(b, value, 0);
  return attr(type, b);
}

/** Network byte order u16 (e.g. UDP ports). */
export function attrBe16(type: number, value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value, 0);
  return attr(type, b);
}

export function attrU32(type: number, value: number): Buffer {
  const b = Buffer.alloc(4);
  writeU32(b, value, 0);
  return attr(type, b);
}

/** Network byte order u32 (e.g. VNI-like keys some families store big-endian). */
export function attrBe32(type: number, value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0, 0);
  return attr(type, b);
}

export function attrU64(type: number, value: bigint): Buffer {
  const b = Buffer.alloc(8);
  writeU64(b, value, 0);
  return attr(type, b);
}

/** String, NUL-terminated by default (NLA_NUL_STRING policies require the NUL; NLA_STRING ones
 *  accept both, and iproute2 leaves it off for e.g. IFLA_INFO_KIND). */
export function attrString(type: number, value: string, nul = true): Buffer {
  const text = Buffer.from(value, 'utf8');
  return attr(type, nul ? Buffer.concat([text, Buffer.from([0])]) : text);
}

export function attrFlag(type: number): Buffer {
  return attr(type, Buffer.alloc(0));
}

/** Nested attribute; the kernel requires NLA_F_NESTED on some (strictly validated) nests. */
export function attrNested(type: number, children: Buffer[], flagNested = true): Buffer {
  return attr(flagNested ? type | NLA_F_NESTED : type, Buffer.concat(children));
}

export interface RawAttr {
  /** Type with NLA_F_NESTED / NLA_F_NET_BYTEORDER stripped. */
  type: number;
  nested: boolean;
  data: Buffer;
}

/** Splits a buffer into attributes. Throws on a malformed length (a codec bug or a corrupt
 *  message, never something to silently skip). */
export function decodeAttrs(buf: Buffer): RawAttr[] {
  const out: RawAttr[] = [];
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = readU16(buf, off);
    const rawType = readU16(buf, off + 2);
    if (len < NLA_HDRLEN || off + len > buf.length) {
      throw new Error(`malformed netlink attribute at offset ${off}: length ${len}, ${buf.length - off} bytes left`);
    }
    out.push({
      type: rawType & NLA_TYPE_MASK,
      nested: (rawType & NLA_F_NESTED) !== 0,
      data: buf.subarray(off + NLA_HDRLEN, off + len),
    });
    off += nlAlign(len);
  }
  return out;
}

/** Attributes by type (last one wins, as in the kernel's nla_parse), with typed accessors. */
export class AttrSet {
  private readonly byType = new Map<number, Buffer>();
  readonly list: RawAttr[];

  constructor(buf: Buffer) {
    this.list = decodeAttrs(buf);
    for (const a of this.list) this.byType.set(a.type, a.data);
  }

  has(type: number): boolean {
    return this.byType.has(type);
  }
  get(type: number): Buffer | undefined {
    return this.byType.get(type);
  }
  u8(type: number): number | undefined {
    const b = this.byType.get(type);
    return b !== undefined && b.length >= 1 ? b.readUInt8(0) : undefined;
  }
  u16(type: number): number | undefined {
    const b = this.byType.get(type);
    return b !== undefined && b.length >= 2 ? readU16(b, 0) : undefined;
  }
  be16(type: number): number | undefined {
    const b = this.byType.get(type);
    return b !== undefined && b.length >= 2 ? b.readUInt16BE(0) : undefined;
  }
  u32(type: number): number | undefined {
    const b = this.byType.get(type);
    return b !== undefined && b.length >= 4 ? readU32(b, 0) : undefined;
  }
  u64(type: number): bigint | undefined {
    const b = this.byType.get(type);
    return b !== undefined && b.length >= 8 ? readU64(b, 0) : undefined;
  }
  /** String up to the first NUL. */
  str(type: number): string | undefined {
    const b = this.byType.get(type);
    if (b === undefined) return undefined;
    const nul = b.indexOf(0);
    return b.toString('utf8', 0, nul < 0 ? b.length : nul);
  }
  nested(type: number): AttrSet | undefined {
    const b = this.byType.get(type);
    return b === undefined ? undefined : new AttrSet(b);
  }
}
