// Local type descriptions for the gob codec: what a Go program would declare as types, written
// as data so the encoder can emit gob type definitions and the decoder can match incoming fields
// by name. Integer kinds carry a JS representation choice (number or bigint) because gob has only
// "signed" and "unsigned" on the wire, while uint64 values such as peer UIDs exceed 2^53.

export interface GobBoolType {
  readonly kind: 'bool';
}
export interface GobIntType<Big extends boolean = boolean> {
  readonly kind: 'int';
  readonly big: Big;
}
export interface GobUintType<Big extends boolean = boolean> {
  readonly kind: 'uint';
  readonly big: Big;
}
export interface GobFloatType {
  readonly kind: 'float';
}
export interface GobStringType {
  readonly kind: 'string';
}
export interface GobBytesType {
  readonly kind: 'bytes';
}
export interface GobSliceType<E extends GobType = GobType> {
  readonly kind: 'slice';
  readonly elem: E;
  /** Go sends the type's name only for named types; unnamed ones go out with "". */
  readonly name: string;
}
export interface GobArrayType<E extends GobType = GobType> {
  readonly kind: 'array';
  readonly elem: E;
  readonly len: number;
  readonly name: string;
}
export interface GobMapType<K extends GobType = GobType, V extends GobType = GobType> {
  readonly kind: 'map';
  readonly key: K;
  readonly elem: V;
  readonly name: string;
}
export type GobFields = Readonly<Record<string, GobType>>;
export interface GobStructType<F extends GobFields = GobFields> {
  readonly kind: 'struct';
  readonly name: string;
  /** Field order is the Go declaration order (field numbers on the wire follow it). */
  readonly fields: F;
}
/** A type with its own marshalling (GobEncoder, BinaryMarshaler, TextMarshaler): opaque bytes. */
export interface GobOpaqueType {
  readonly kind: 'opaque';
  readonly name: string;
  readonly flavour: 'gob' | 'binary' | 'text';
}

export type GobType =
  | GobBoolType
  | GobIntType
  | GobUintType
  | GobFloatType
  | GobStringType
  | GobBytesType
  | GobSliceType
  | GobArrayType
  | GobMapType
  | GobStructType
  | GobOpaqueType;

/** The JS value a decoder produces for a type. */
export type GobValue<T> = T extends GobBoolType
  ? boolean
  : T extends GobIntType<true> | GobUintType<true>
    ? bigint
    : T extends GobIntType | GobUintType | GobFloatType
      ? number
      : T extends GobStringType
        ? string
        : T extends GobBytesType | GobOpaqueType
          ? Buffer
          : T extends GobSliceType<infer E> | GobArrayType<infer E>
            ? GobValue<E>[]
            : T extends GobMapType<infer K, infer V>
              ? Map<GobValue<K>, GobValue<V>>
              : T extends GobStructType<infer F>
                ? { [P in keyof F]: GobValue<F[P]> }
                : never;

/** What an encoder accepts for a type: absent struct fields are zero, as in Go. */
export type GobInput<T> = T extends GobBoolType
  ? boolean
  : T extends GobIntType | GobUintType
    ? number | bigint
    : T extends GobFloatType
      ? number
      : T extends GobStringType
        ? string
        : T extends GobBytesType | GobOpaqueType
          ? Uint8Array
          : T extends GobSliceType<infer E> | GobArrayType<infer E>
            ? readonly GobInput<E>[]
            : T extends GobMapType<GobStringType, infer V>
              ? ReadonlyMap<string, GobInput<V>> | Readonly<Record<string, GobInput<V>>>
              : T extends GobMapType<infer K, infer V>
                ? ReadonlyMap<GobInput<K>, GobInput<V>>
                : T extends GobStructType<infer F>
                  ? { readonly [P in keyof F]?: GobInput<F[P]> }
                  : never;

const boolType: GobBoolType = { kind: 'bool' };
const intType: GobIntType<false> = { kind: 'int', big: false };
const int64Type: GobIntType<true> = { kind: 'int', big: true };
const uintType: GobUintType<false> = { kind: 'uint', big: false };
const uint64Type: GobUintType<true> = { kind: 'uint', big: true };
const floatType: GobFloatType = { kind: 'float' };
const stringType: GobStringType = { kind: 'string' };
const bytesType: GobBytesType = { kind: 'bytes' };

/** Builders for type descriptions, e.g.
 *  `gob.struct('peerSummary', { NameByte: gob.bytes, UID: gob.uint64, HasShortID: gob.bool })`. */
export const gob = {
  bool: boolType,
  /** Signed integer decoded as a number (error if beyond 2^53). */
  int: intType,
  /** Signed integer decoded as a bigint. */
  int64: int64Type,
  /** Unsigned integer decoded as a number (error if beyond 2^53). */
  uint: uintType,
  /** Unsigned integer decoded as a bigint. */
  uint64: uint64Type,
  float: floatType,
  string: stringType,
  /** []byte */
  bytes: bytesType,
  slice<E extends GobType>(elem: E, name = ''): GobSliceType<E> {
    return { kind: 'slice', elem, name };
  },
  array<E extends GobType>(elem: E, len: number, name = ''): GobArrayType<E> {
    if (!Number.isInteger(len) || len < 0) throw new RangeError(`bad gob array length ${len}`);
    return { kind: 'array', elem, len, name };
  },
  map<K extends GobType, V extends GobType>(key: K, elem: V, name = ''): GobMapType<K, V> {
    return { kind: 'map', key, elem, name };
  },
  struct<F extends GobFields>(name: string, fields: F): GobStructType<F> {
    for (const field of Object.keys(fields)) {
      // Go only transmits exported (upper-case) fields; anything else could never match.
      if (!/^\p{Lu}/u.test(field)) throw new Error(`gob struct ${name}: field ${field} is not exported`);
    }
    return { kind: 'struct', name, fields };
  },
  opaque(name: string, flavour: GobOpaqueType['flavour'] = 'gob'): GobOpaqueType {
    return { kind: 'opaque', name, flavour };
  },
} as const;
