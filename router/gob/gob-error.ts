/** Malformed, unsupported or mismatched gob data. */
export class GobError extends Error {
  override name = 'GobError';
}
