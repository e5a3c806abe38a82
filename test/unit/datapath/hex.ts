// Byte-vector helpers for codec tests.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** "0a 00 01 00" -> bytes; whitespace and newlines are ignored. */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

/** A message payload captured from the kernel with `strace -x` (see fixtures/README.md). */
export function fixture(name: string): Buffer {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
  return hex(fs.readFileSync(path.join(dir, `${name}.hex`), 'utf8'));
}
