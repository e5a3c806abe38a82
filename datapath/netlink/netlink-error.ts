// The error every netlink failure surfaces as: errno + symbolic code, like Node's system errors,
// so callers can test `err.code === 'EEXIST'` without knowing numbers.
import os from 'node:os';

const names = new Map<number, string>();
for (const [name, num] of Object.entries(os.constants.errno)) {
  if (!names.has(num)) names.set(num, name);
}
// Aliases share a number; use the names the kernel headers and strerrorname_np use.
for (const name of ['EAGAIN', 'EDEADLK', 'EOPNOTSUPP']) {
  const num = (os.constants.errno as Record<string, number | undefined>)[name];
  if (num !== undefined) names.set(num, name);
}

export function errnoName(errno: number): string {
  return names.get(errno) ?? `E${errno}`;
}

export function errnoNumber(code: string): number | undefined {
  return (os.constants.errno as Record<string, number | undefined>)[code];
}

export class NetlinkError extends Error {
  readonly errno: number;
  readonly code: string;
  /** Kernel's extended-ack text, when it gave one. */
  readonly extack: string | undefined;

  constructor(errno: number, context: string, extack?: string) {
    const code = errnoName(errno);
    super(`${context}: ${code}${extack !== undefined ? ` (${extack})` : ''}`);
    this.name = 'NetlinkError';
    this.errno = errno;
    this.code = code;
    this.extack = extack;
  }

  static is(err: unknown, code?: string): err is NetlinkError {
    return err instanceof NetlinkError && (code === undefined || err.code === code);
  }
}
