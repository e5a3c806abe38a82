// The gob codec's public surface.
export { gob } from './schema.ts';
export type { GobType, GobValue, GobInput, GobStructType, GobFields } from './schema.ts';
export { GobEncoder, gobEncode } from './gob-encoder.ts';
export { GobDecoder, gobDecode, gobDecodeAll } from './gob-decoder.ts';
export type { GobDecoderOptions, GobDynamic } from './gob-decoder.ts';
export { GobError } from './gob-error.ts';
export { zeroValue } from './zero-value.ts';
