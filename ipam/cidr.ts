// IPv4 CIDR blocks (network address + prefix length) on top of the uint32 representation.

import { formatIpv4, parseIpv4, type Ipv4 } from '../common/ipv4.ts';

export interface Cidr {
  /** Network address (host bits zero). */
  readonly base: Ipv4;
  readonly prefix: number;
}

export function maskOf(prefix: number): number {
  // `<< 32` is a no-op in JS, so /0 needs its own case
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function sizeOf(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function lastOf(c: Cidr): Ipv4 {
  return c.base + sizeOf(c) - 1;
}

export function makeCidr(address: Ipv4, prefix: number): Cidr {
  return { base: (address & maskOf(prefix)) >>> 0, prefix };
}

/** Split "a.b.c.d/n" into the address as written and the prefix length. */
export function parseAddressWithPrefix(text: string): { address: Ipv4; prefix: number } {
  const slash = text.indexOf('/');
  if (slash < 0) throw new Error(`invalid CIDR "${text}": missing /prefix`);
  const address = parseIpv4(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]?)$/.test(prefixText) || Number(prefixText) > 32) {
    throw new Error(`invalid CIDR "${text}": prefix length must be 0..32`);
  }
  return { address, prefix: Number(prefixText) };
}

/** Parse a network in CIDR form. Host bits must be zero: "10.1.2.3/24" is almost always a typo
 *  for an address, and silently widening it would hand out a subnet the user did not name. */
export function parseCidr(text: string): Cidr {
  const { address, prefix } = parseAddressWithPrefix(text);
  const c = makeCidr(address, prefix);
  if (c.base !== address) {
    throw new Error(`invalid subnet "${text}": host bits set, did you mean ${formatCidr(c)}?`);
  }
  return c;
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

export function containsAddress(c: Cidr, address: Ipv4): boolean {
  return address >= c.base && address <= lastOf(c);
}

/** True when `inner` lies entirely inside `outer`. */
export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && containsAddress(outer, inner.base);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= lastOf(b) && b.base <= lastOf(a);
}
