// Gob's type definitions as they travel: a wireType struct naming one of its variants
// (ArrayT=field 0, SliceT=1, StructT=2, MapT=3, GobEncoderT=4, BinaryMarshalerT=5,
// TextMarshalerT=6), each starting with CommonType{Name, Id}. The decoder knows wireType's own
// layout a priori, so it is read and written here by hand rather than through a schema.
import type { ByteReader } from './byte-reader.ts';
import type { ByteWriter } from './byte-writer.ts';
import { GobError } from './gob-error.ts';

/** Type ids every gob stream knows without definitions. */
export const BuiltinTypeId = {
  Bool: 1,
  Int: 2,
  Uint: 3,
  Float: 4,
  Bytes: 5,
  String: 6,
  Complex: 7,
  Interface: 8,
} as const;

/** Ids below this are reserved by gob; encoders number user types from here. */
export const FIRST_USER_TYPE_ID = 65;

export type WireType =
  | { kind: 'array'; name: string; elem: number; len: number }
  | { kind: 'slice'; name: string; elem: number }
  | { kind: 'struct'; name: string; fields: { name: string; id: number }[] }
  | { kind: 'map'; name: string; key: number; elem: number }
  | { kind: 'opaque'; name: string; flavour: 'gob' | 'binary' | 'text' };

const OPAQUE_FIELDS = ['gob', 'binary', 'text'] as const;

/** Iterates a gob struct's field numbers (delta-coded, 0 terminates). */
function* structFields(r: ByteReader): Generator<number> {
  let field = -1;
  for (;;) {
    const delta = r.uint();
    if (delta === 0) return;
    field += delta;
    yield field;
  }
}

function readCommon(r: ByteReader): { name: string; id: number } {
  const common = { name: '', id: 0 };
  for (const f of structFields(r)) {
    if (f === 0) common.name = r.string();
    else if (f === 1) common.id = r.int();
    else throw new GobError(`gob CommonType has no field ${f}`);
  }
  return common;
}

/** Reads one wireType value (the body of a type-definition message after its negative id). */
export function readWireType(r: ByteReader): WireType {
  let result: WireType | undefined;
  for (const variant of structFields(r)) {
    if (result) throw new GobError('gob wireType defines more than one type');
    let common = { name: '', id: 0 };
    switch (variant) {
      case 0: {
        let elem = 0;
        let len = 0;
        for (const f of structFields(r)) {
          if (f === 0) common = readCommon(r);
          else if (f === 1) elem = r.int();
          else if (f === 2) len = r.int();
          else throw new GobError(`gob arrayType has no field ${f}`);
        }
        result = { kind: 'array', name: common.name, elem, len };
        break;
      }
      case 1: {
        let elem = 0;
        for (const f of structFields(r)) {
          if (f === 0) common = readCommon(r);
          else if (f === 1) elem = r.int();
          else throw new GobError(`gob sliceType has no field ${f}`);
        }
        result = { kind: 'slice', name: common.name, elem };
        break;
      }
      case 2: {
        const fields: { name: string; id: number }[] = [];
        for (const f of structFields(r)) {
          if (f === 0) common = readCommon(r);
          else if (f === 1) {
            const n = r.count();
            for (let i = 0; i < n; i++) {
              const field = { name: '', id: 0 };
              for (const ff of structFields(r)) {
                if (ff === 0) field.name = r.string();
                else if (ff === 1) field.id = r.int();
                else throw new GobError(`gob fieldType has no field ${ff}`);
              }
              fields.push(field);
            }
          } else throw new GobError(`gob structType has no field ${f}`);
        }
        result = { kind: 'struct', name: common.name, fields };
        break;
      }
      case 3: {
        let key = 0;
        let elem = 0;
        for (const f of structFields(r)) {
          if (f === 0) common = readCommon(r);
          else if (f === 1) key = r.int();
          else if (f === 2) elem = r.int();
          else throw new GobError(`gob mapType has no field ${f}`);
        }
        result = { kind: 'map', name: common.name, key, elem };
        break;
      }
      case 4:
      case 5:
      case 6: {
        for (const f of structFields(r)) {
          if (f === 0) common = readCommon(r);
          else throw new GobError(`gob gobEncoderType has no field ${f}`);
        }
        result = { kind: 'opaque', name: common.name, flavour: OPAQUE_FIELDS[variant - 4]! };
        break;
      }
      default:
        throw new GobError(`gob wireType has no field ${variant}`);
    }
  }
  if (!result) throw new GobError('empty gob wireType');
  return result;
}

function writeCommon(w: ByteWriter, name: string, id: number): void {
  w.byte(1); // CommonType is field 0 of every variant
  if (name) {
    w.byte(1);
    w.string(name);
    w.byte(1);
  } else {
    w.byte(2);
  }
  w.int(id);
  w.byte(0);
}

/** Writes the wireType value describing `t` whose id is `id`; zero fields are omitted as Go does. */
export function writeWireType(w: ByteWriter, id: number, t: WireType): void {
  switch (t.kind) {
    case 'array':
      w.byte(1);
      writeCommon(w, t.name, id);
      w.byte(1);
      w.int(t.elem);
      if (t.len !== 0) {
        w.byte(1);
        w.int(t.len);
      }
      break;
    case 'slice':
      w.byte(2);
      writeCommon(w, t.name, id);
      w.byte(1);
      w.int(t.elem);
      break;
    case 'struct':
      w.byte(3);
      writeCommon(w, t.name, id);
      if (t.fields.length > 0) {
        w.byte(1);
        w.uint(t.fields.length);
        for (const f of t.fields) {
          if (f.name) {
            w.byte(1);
            w.string(f.name);
            w.byte(1);
          } else {
            w.byte(2);
          }
          w.int(f.id);
          w.byte(0);
        }
      }
      break;
    case 'map':
      w.byte(4);
      writeCommon(w, t.name, id);
      w.byte(1);
      w.int(t.key);
      w.byte(1);
      w.int(t.elem);
      break;
    case 'opaque':
      w.byte(5 + OPAQUE_FIELDS.indexOf(t.flavour));
      writeCommon(w, t.name, id);
      break;
  }
  w.byte(0); // end of the variant struct
  w.byte(0); // end of wireType
}
