import type { GobType, GobValue } from './schema.ts';

/** Go's zero value of a type, in the decoder's representation (also a valid encoder input). */
export function zeroValue<T extends GobType>(t: T): GobValue<T> {
  return zero(t) as GobValue<T>;
}

function zero(t: GobType): unknown {
  switch (t.kind) {
    case 'bool':
      return false;
    case 'int':
    case 'uint':
      return t.big ? 0n : 0;
    case 'float':
      return 0;
    case 'string':
      return '';
    case 'bytes':
    case 'opaque':
      return Buffer.alloc(0);
    case 'slice':
      return [];
    case 'array':
      return Array.from({ length: t.len }, () => zero(t.elem));
    case 'map':
      return new Map();
    case 'struct': {
      const out: Record<string, unknown> = {};
      for (const [name, ft] of Object.entries(t.fields)) out[name] = zero(ft);
      return out;
    }
  }
}
