import { ByteReader } from './byte-reader.ts';
import { GobError } from './gob-error.ts';
import type { GobType, GobValue } from './schema.ts';
import { BuiltinTypeId, readWireType } from './wire-type.ts';
import type { WireType } from './wire-type.ts';
import { zeroValue } from './zero-value.ts';

export interface GobDecoderOptions {
  /** Largest single gob message accepted (Go allows far more; our inputs are TCP frames). */
  maxMessageBytes?: number;
}

const MAX_DEPTH = 64;
const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;

/** A value decoded without a local type: what `decodeAny` returns, and how unknown fields are skipped. */
export type GobDynamic =
  | boolean
  | bigint
  | number
  | string
  | Buffer
  | [number, number]
  | GobDynamic[]
  | Map<GobDynamic, GobDynamic>
  | { [field: string]: GobDynamic };

const basicKindOfId: Record<number, GobType['kind'] | undefined> = {
  [BuiltinTypeId.Bool]: 'bool',
  [BuiltinTypeId.Int]: 'int',
  [BuiltinTypeId.Uint]: 'uint',
  [BuiltinTypeId.Float]: 'float',
  [BuiltinTypeId.Bytes]: 'bytes',
  [BuiltinTypeId.String]: 'string',
};

/**
 * A gob stream decoder: keeps the type definitions it has seen across messages (Go's
 * gob.Decoder). Feed bytes with `push`; `tryDecode` returns undefined until a whole value is
 * buffered. Struct fields are matched by name; fields we do not know are skipped, fields the
 * sender did not send keep their zero value.
 */
export class GobDecoder {
  private readonly types = new Map<number, WireType>();
  private pending: Buffer = Buffer.alloc(0);
  private readonly maxMessage: number;

  constructor(opts: GobDecoderOptions = {}) {
    this.maxMessage = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
  }

  push(chunk: Uint8Array): void {
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
  }

  /** No buffered bytes left. */
  get atEnd(): boolean {
    return this.pending.length === 0;
  }

  /** The next value as `type`, or undefined if the stream does not yet hold a complete value. */
  tryDecode<T extends GobType>(type: T): GobValue<T> | undefined {
    const found = this.nextValueMessage();
    if (!found) return undefined;
    const { r, id } = found;
    return this.decodeTop(r, id, (rr, wireId, singleton) =>
      singleton ? this.readInto(rr, wireId, type, 0) : this.readStructInto(rr, wireId, type, 0, true),
    ) as GobValue<T>;
  }

  /** The next value as `type`; throws if the buffered bytes do not hold one. */
  decode<T extends GobType>(type: T): GobValue<T> {
    const v = this.tryDecode(type);
    if (v === undefined) throw new GobError(this.atEnd ? 'end of gob stream' : 'truncated gob stream');
    return v;
  }

  /** The next value without a local type (for diagnostics and tests). */
  decodeAny(): GobDynamic {
    const found = this.nextValueMessage();
    if (!found) throw new GobError(this.atEnd ? 'end of gob stream' : 'truncated gob stream');
    return this.decodeTop(found.r, found.id, (rr, wireId) => this.readDynamic(rr, wireId, 0));
  }

  private decodeTop<R>(r: ByteReader, id: number, read: (r: ByteReader, id: number, singleton: boolean) => R): R {
    const wt = this.types.get(id);
    if (!wt && basicKindOfId[id] === undefined && id !== BuiltinTypeId.Complex) {
      throw new GobError(`gob type id ${id} used before its definition`);
    }
    if (wt?.kind === 'struct') return read(r, id, false);
    const delta = r.uint();
    if (delta !== 0) throw new GobError(`corrupt gob: non-zero delta ${delta} for a singleton value`);
    return read(r, id, true);
  }

  /** Consumes type definitions up to the next value message; leaves the buffer untouched if incomplete. */
  private nextValueMessage(): { r: ByteReader; id: number } | undefined {
    for (;;) {
      const frame = this.peekMessage();
      if (!frame) return undefined;
      const r = new ByteReader(this.pending, frame.start, frame.end);
      this.pending = this.pending.subarray(frame.end);
      const id = r.int();
      if (id >= 0) {
        if (id === 0) throw new GobError('corrupt gob: type id 0');
        return { r, id };
      }
      const def = readWireType(r);
      if (r.remaining !== 0) throw new GobError('corrupt gob: extra data after a type definition');
      if (this.isKnownId(-id)) throw new GobError(`gob type id ${-id} is reserved`);
      if (this.types.has(-id)) throw new GobError(`duplicate gob type id ${-id} received`);
      this.types.set(-id, def);
    }
  }

  private isKnownId(id: number): boolean {
    return id <= BuiltinTypeId.Interface || (id >= 16 && id <= 23);
  }

  private peekMessage(): { start: number; end: number } | undefined {
    const buf = this.pending;
    if (buf.length === 0) return undefined;
    const b = buf[0]!;
    let len: number;
    let start: number;
    if (b < 0x80) {
      len = b;
      start = 1;
    } else {
      const n = 256 - b;
      if (n > 8) throw new GobError(`corrupt gob: message length has ${n} bytes`);
      if (buf.length < 1 + n) return undefined;
      const v = buf.subarray(1, 1 + n).reduce((acc, x) => (acc << 8n) | BigInt(x), 0n);
      if (v > BigInt(this.maxMessage)) throw new GobError(`gob message of ${v} bytes exceeds ${this.maxMessage}`);
      len = Number(v);
      start = 1 + n;
    }
    if (len === 0) throw new GobError('corrupt gob: empty message');
    if (len > this.maxMessage) throw new GobError(`gob message of ${len} bytes exceeds ${this.maxMessage}`);
    if (buf.length < start + len) return undefined;
    return { start, end: start + len };
  }

  private wireType(id: number): WireType {
    const wt = this.types.get(id);
    if (!wt) throw new GobError(`gob type id ${id} used before its definition`);
    return wt;
  }

  private describe(id: number): string {
    const basic = basicKindOfId[id];
    if (basic) return basic;
    const wt = this.types.get(id);
    return wt ? `${wt.kind} ${wt.name || '(unnamed)'}` : `type ${id}`;
  }

  private mismatch(id: number, local: GobType): GobError {
    const name = 'name' in local && local.name ? ` ${local.name}` : '';
    return new GobError(`gob type mismatch: sent ${this.describe(id)}, expected ${local.kind}${name}`);
  }

  private readInto(r: ByteReader, id: number, local: GobType, depth: number): unknown {
    if (depth > MAX_DEPTH) throw new GobError('gob value nested too deeply');
    switch (local.kind) {
      case 'bool': {
        if (id !== BuiltinTypeId.Bool) throw this.mismatch(id, local);
        const v = r.uint();
        if (v > 1) throw new GobError(`gob bool has value ${v}`);
        return v === 1;
      }
      case 'int':
        if (id !== BuiltinTypeId.Int) throw this.mismatch(id, local);
        return local.big ? r.intBig() : r.int();
      case 'uint':
        if (id !== BuiltinTypeId.Uint) throw this.mismatch(id, local);
        return local.big ? r.uintBig() : r.uint();
      case 'float':
        if (id !== BuiltinTypeId.Float) throw this.mismatch(id, local);
        return r.float();
      case 'string':
        if (id !== BuiltinTypeId.String) throw this.mismatch(id, local);
        return r.string();
      case 'bytes':
        if (id !== BuiltinTypeId.Bytes) throw this.mismatch(id, local);
        return Buffer.from(r.counted());
      case 'opaque': {
        if (this.types.get(id)?.kind !== 'opaque') throw this.mismatch(id, local);
        return Buffer.from(r.counted());
      }
      case 'slice':
      case 'array': {
        const wt = this.types.get(id);
        if (!wt || wt.kind !== local.kind) throw this.mismatch(id, local);
        const n = r.count();
        if (local.kind === 'array' && n !== local.len) throw new GobError(`gob array has ${n} elements, expected ${local.len}`);
        const out: unknown[] = new Array<unknown>(n);
        for (let i = 0; i < n; i++) out[i] = this.readInto(r, wt.elem, local.elem, depth + 1);
        return out;
      }
      case 'map': {
        const wt = this.types.get(id);
        if (!wt || wt.kind !== 'map') throw this.mismatch(id, local);
        const n = r.count();
        const out = new Map<unknown, unknown>();
        for (let i = 0; i < n; i++) {
          const k = this.readInto(r, wt.key, local.key, depth + 1);
          out.set(k, this.readInto(r, wt.elem, local.elem, depth + 1));
        }
        return out;
      }
      case 'struct':
        return this.readStructInto(r, id, local, depth);
    }
  }

  private readStructInto(r: ByteReader, id: number, local: GobType, depth: number, topLevel = false): unknown {
    if (local.kind !== 'struct') throw this.mismatch(id, local);
    const wt = this.types.get(id);
    if (!wt || wt.kind !== 'struct') throw this.mismatch(id, local);
    const localHasFields = Object.keys(local.fields).length > 0;
    if (topLevel && localHasFields && wt.fields.length > 0 && !wt.fields.some((f) => Object.hasOwn(local.fields, f.name))) {
      // Go refuses this for top-level values: nothing in common means the sender meant another type.
      throw new GobError(`gob type mismatch: no fields matched decoding ${wt.name || 'struct'} into ${local.name}`);
    }
    const out = zeroValue(local) as Record<string, unknown>;
    let field = -1;
    for (;;) {
      const delta = r.uint();
      if (delta === 0) return out;
      field += delta;
      const wf = wt.fields[field];
      if (!wf) throw new GobError(`corrupt gob: field ${field} beyond the ${wt.fields.length} fields of ${wt.name}`);
      const lf = Object.hasOwn(local.fields, wf.name) ? local.fields[wf.name] : undefined;
      if (lf) {
        try {
          out[wf.name] = this.readInto(r, wf.id, lf, depth + 1);
        } catch (err) {
          if (err instanceof GobError) throw new GobError(`${local.name}.${wf.name}: ${err.message}`);
          throw err;
        }
      } else {
        this.readDynamic(r, wf.id, depth + 1);
      }
    }
  }

  private readDynamic(r: ByteReader, id: number, depth: number): GobDynamic {
    if (depth > MAX_DEPTH) throw new GobError('gob value nested too deeply');
    switch (id) {
      case BuiltinTypeId.Bool:
        return r.uint() !== 0;
      case BuiltinTypeId.Int:
        return r.intBig();
      case BuiltinTypeId.Uint:
        return r.uintBig();
      case BuiltinTypeId.Float:
        return r.float();
      case BuiltinTypeId.Bytes:
        return Buffer.from(r.counted());
      case BuiltinTypeId.String:
        return r.string();
      case BuiltinTypeId.Complex:
        return [r.float(), r.float()];
      case BuiltinTypeId.Interface:
        throw new GobError('gob interface values are not supported');
      default:
        break;
    }
    const wt = this.wireType(id);
    switch (wt.kind) {
      case 'slice':
      case 'array': {
        const n = r.count();
        const out: GobDynamic[] = [];
        for (let i = 0; i < n; i++) out.push(this.readDynamic(r, wt.elem, depth + 1));
        return out;
      }
      case 'map': {
        const n = r.count();
        const out = new Map<GobDynamic, GobDynamic>();
        for (let i = 0; i < n; i++) {
          const k = this.readDynamic(r, wt.key, depth + 1);
          out.set(k, this.readDynamic(r, wt.elem, depth + 1));
        }
        return out;
      }
      case 'opaque':
        return Buffer.from(r.counted());
      case 'struct': {
        const out: { [field: string]: GobDynamic } = {};
        let field = -1;
        for (;;) {
          const delta = r.uint();
          if (delta === 0) return out;
          field += delta;
          const wf = wt.fields[field];
          if (!wf) throw new GobError(`corrupt gob: field ${field} beyond the ${wt.fields.length} fields of ${wt.name}`);
          out[wf.name] = this.readDynamic(r, wf.id, depth + 1);
        }
      }
    }
  }
}

/** Decodes the first value of a self-contained gob stream (e.g. one features message). */
export function gobDecode<T extends GobType>(type: T, bytes: Uint8Array): GobValue<T> {
  const dec = new GobDecoder();
  dec.push(bytes);
  return dec.decode(type);
}

/** Decodes every value of a self-contained gob stream whose values all have the same type. */
export function gobDecodeAll<T extends GobType>(type: T, bytes: Uint8Array): GobValue<T>[] {
  const dec = new GobDecoder();
  dec.push(bytes);
  const out: GobValue<T>[] = [];
  while (!dec.atEnd) out.push(dec.decode(type));
  return out;
}
