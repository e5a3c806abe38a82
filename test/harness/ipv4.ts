function toInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function parseCidr(cidr: string): { base: number; bits: number } {
  const [ip, len] = cidr.split('/');
  const bits = Number(len);
  if (!ip || !Number.isInteger(bits) || bits < 0 || bits > 32) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  return { base: toInt(ip), bits };
}

function mask(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** `ip` may carry a prefix length ("10.32.0.5/16"); it is ignored. */
export function ipInCidr(ip: string, cidr: string): boolean {
  const { base, bits } = parseCidr(cidr);
  return ((toInt(ip.split('/')[0]!) & mask(bits)) >>> 0) === ((base & mask(bits)) >>> 0);
}

/** True when `inner` lies entirely within `outer`. */
export function cidrWithin(inner: string, outer: string): boolean {
  return parseCidr(inner).bits >= parseCidr(outer).bits && ipInCidr(inner.split('/')[0]!, outer);
}
