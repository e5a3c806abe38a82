import { ByteWriter } from './byte-writer.ts';
import { GobError } from './gob-error.ts';
import { zeroValue } from './zero-value.ts';
import type { GobInput, GobType } from './schema.ts';
import { BuiltinTypeId, FIRST_USER_TYPE_ID, writeWireType } from './wire-type.ts';
import type { WireType } from './wire-type.ts';

const builtinIds: Partial<Record<GobType['kind'], number>> = {
  bool: BuiltinTypeId.Bool,
  int: BuiltinTypeId.Int,
  uint: BuiltinTypeId.Uint,
  float: BuiltinTypeId.Float,
  bytes: BuiltinTypeId.Bytes,
  string: BuiltinTypeId.String,
};

const signatures = new WeakMap<GobType, string>();

/** Structural identity of a type: builders make fresh objects, Go identifies types by shape+name. */
function signature(t: GobType): string {
  let s = signatures.get(t);
  if (s !== undefined) return s;
  switch (t.kind) {
    case 'slice':
      s = `[]${signature(t.elem)}#${t.name}`;
      break;
    case 'array':
      s = `[${t.len}]${signature(t.elem)}#${t.name}`;
      break;
    case 'map':
      s = `map[${signature(t.key)}]${signature(t.elem)}#${t.name}`;
      break;
    case 'struct':
      s = `struct ${t.name}{${Object.entries(t.fields)
        .map(([n, ft]) => `${n} ${signature(ft)}`)
        .join(';')}}`;
      break;
    case 'opaque':
      s = `opaque:${t.flavour}:${t.name}`;
      break;
    default:
      s = t.kind;
  }
  signatures.set(t, s);
  return s;
}

type AnyValue = unknown;

/**
 * A gob stream encoder: each type's definition goes out once, before the first value that needs
 * it, and later values of that type refer to its id (Go's gob.Encoder). Use one per stream;
 * `gobEncode` is the one-shot form (fresh encoder per call, as Weave does per gossip message).
 */
export class GobEncoder {
  private readonly ids = new Map<string, number>();
  private readonly sent = new Set<string>();
  private nextId = FIRST_USER_TYPE_ID;

  /** Bytes for one value, preceded by any type definitions this stream has not sent yet. */
  encode<T extends GobType>(type: T, value: GobInput<T>): Buffer;
  encode(type: GobType, value: AnyValue): Buffer {
    const id = this.assignIds(type);
    // The value first: if it does not fit the type, nothing is marked as sent and the stream
    // stays consistent for the next value.
    const body = new ByteWriter();
    body.int(id);
    if (type.kind === 'struct') {
      this.writeStruct(body, type, value);
    } else {
      // Non-struct values travel as a struct with a single field: delta 0, then the value.
      body.byte(0);
      this.writeValue(body, type, value);
    }
    const out = new ByteWriter(body.length + 16);
    this.sendDefinitions(type, out);
    out.uint(body.length);
    out.raw(body.view());
    return out.toBuffer();
  }

  // Mirrors Go's allocation order: a struct takes its id before its fields, containers after
  // their elements. Ids only need to be consistent within one stream, but matching Go keeps
  // our output byte-identical to Go's for the same types.
  private assignIds(t: GobType): number {
    const builtin = builtinIds[t.kind];
    if (builtin !== undefined) return builtin;
    const sig = signature(t);
    const known = this.ids.get(sig);
    if (known !== undefined) return known;
    switch (t.kind) {
      case 'struct': {
        const id = this.nextId++;
        this.ids.set(sig, id);
        for (const ft of Object.values(t.fields)) this.assignIds(ft);
        return id;
      }
      case 'slice':
      case 'array':
        this.assignIds(t.elem);
        break;
      case 'map':
        this.assignIds(t.key);
        this.assignIds(t.elem);
        break;
      default:
        break;
    }
    const id = this.nextId++;
    this.ids.set(sig, id);
    return id;
  }

  private idOf(t: GobType): number {
    const id = builtinIds[t.kind] ?? this.ids.get(signature(t));
    if (id === undefined) throw new GobError(`gob type ${signature(t)} has no id`);
    return id;
  }

  private wireTypeOf(t: GobType): WireType {
    switch (t.kind) {
      case 'slice':
        return { kind: 'slice', name: t.name, elem: this.idOf(t.elem) };
      case 'array':
        return { kind: 'array', name: t.name, elem: this.idOf(t.elem), len: t.len };
      case 'map':
        return { kind: 'map', name: t.name, key: this.idOf(t.key), elem: this.idOf(t.elem) };
      case 'struct':
        return {
          kind: 'struct',
          name: t.name,
          fields: Object.entries(t.fields).map(([name, ft]) => ({ name, id: this.idOf(ft) })),
        };
      case 'opaque':
        return { kind: 'opaque', name: t.name, flavour: t.flavour };
      default:
        throw new GobError(`gob basic type ${t.kind} needs no definition`);
    }
  }

  /** Outer type first, then the types inside it, each as its own message (Go's order). */
  private sendDefinitions(t: GobType, out: ByteWriter): void {
    if (builtinIds[t.kind] !== undefined) return;
    const sig = signature(t);
    if (this.sent.has(sig)) return;
    this.sent.add(sig);
    const id = this.idOf(t);
    const body = new ByteWriter();
    body.int(-id);
    writeWireType(body, id, this.wireTypeOf(t));
    out.uint(body.length);
    out.raw(body.view());
    switch (t.kind) {
      case 'struct':
        for (const ft of Object.values(t.fields)) this.sendDefinitions(ft, out);
        break;
      case 'slice':
      case 'array':
        this.sendDefinitions(t.elem, out);
        break;
      case 'map':
        this.sendDefinitions(t.key, out);
        this.sendDefinitions(t.elem, out);
        break;
      default:
        break;
    }
  }

  private writeStruct(w: ByteWriter, t: Extract<GobType, { kind: 'struct' }>, value: AnyValue): void {
    if (typeof value !== 'object' || value === null) throw new GobError(`gob struct ${t.name}: value is not an object`);
    const record = value as Record<string, AnyValue>;
    let last = -1;
    let index = 0;
    for (const [name, ft] of Object.entries(t.fields)) {
      const v = record[name];
      // null = a nil pointer to a struct (e.g. Weave's `Ring *ring.Ring`): Go leaves it out
      if (v === null && ft.kind === 'struct') {
        index++;
        continue;
      }
      // Go sends nested structs even when zero; every other zero field is left out.
      if (ft.kind === 'struct' || !isZero(ft, v)) {
        w.uint(index - last);
        last = index;
        try {
          this.writeValue(w, ft, v ?? zeroValue(ft));
        } catch (err) {
          if (err instanceof GobError) throw new GobError(`${t.name}.${name}: ${err.message}`);
          throw err;
        }
      }
      index++;
    }
    w.byte(0);
  }

  private writeValue(w: ByteWriter, t: GobType, v: AnyValue): void {
    switch (t.kind) {
      case 'bool':
        if (typeof v !== 'boolean') throw new GobError(`expected boolean, got ${typeof v}`);
        w.uint(v ? 1 : 0);
        return;
      case 'int':
        if (typeof v !== 'number' && typeof v !== 'bigint') throw new GobError(`expected integer, got ${typeof v}`);
        w.int(v);
        return;
      case 'uint':
        if (typeof v !== 'number' && typeof v !== 'bigint') throw new GobError(`expected integer, got ${typeof v}`);
        w.uint(v);
        return;
      case 'float':
        if (typeof v !== 'number') throw new GobError(`expected number, got ${typeof v}`);
        w.float(v);
        return;
      case 'string':
        if (typeof v !== 'string') throw new GobError(`expected string, got ${typeof v}`);
        w.string(v);
        return;
      case 'bytes':
      case 'opaque':
        if (!(v instanceof Uint8Array)) throw new GobError(`expected bytes, got ${typeof v}`);
        w.counted(v);
        return;
      case 'slice':
      case 'array': {
        if (!Array.isArray(v)) throw new GobError(`expected array, got ${typeof v}`);
        if (t.kind === 'array' && v.length !== t.len) throw new GobError(`expected ${t.len} array elements, got ${v.length}`);
        w.uint(v.length);
        for (const e of v) this.writeValue(w, t.elem, e);
        return;
      }
      case 'map': {
        const entries = mapEntries(v);
        w.uint(entries.length);
        for (const [k, e] of entries) {
          this.writeValue(w, t.key, k);
          this.writeValue(w, t.elem, e);
        }
        return;
      }
      case 'struct':
        this.writeStruct(w, t, v);
        return;
    }
  }
}

function mapEntries(v: AnyValue): [AnyValue, AnyValue][] {
  if (v instanceof Map) return [...(v as Map<AnyValue, AnyValue>).entries()];
  if (typeof v === 'object' && v !== null) return Object.entries(v);
  throw new GobError(`expected Map or record, got ${typeof v}`);
}

function isZero(t: GobType, v: AnyValue): boolean {
  if (v === undefined) return true;
  switch (t.kind) {
    case 'bool':
      return v === false;
    case 'int':
    case 'uint':
      return v === 0 || v === 0n;
    case 'float':
      return v === 0;
    case 'string':
      return v === '';
    case 'bytes':
    case 'opaque':
    case 'slice':
      return (v as { length: number }).length === 0;
    case 'array':
      return t.len === 0;
    case 'map':
      // A JS Map cannot be nil; treat empty as Go's nil map, which Go leaves out.
      return mapEntries(v).length === 0;
    case 'struct':
      return false;
  }
}

/** One value in a fresh stream: type definitions followed by the value. */
export function gobEncode<T extends GobType>(type: T, value: GobInput<T>): Buffer {
  return new GobEncoder().encode(type, value);
}
