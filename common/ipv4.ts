// IPv4 addresses as unsigned 32-bit integers. Arithmetic on numbers keeps allocation loops cheap
// and avoids a dependency on an address library for the handful of operations IPAM needs.

export type Ipv4 = number;

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** Parse a dotted quad. Leading zeros are refused because some tools read them as octal, so
 *  "010.0.0.1" would mean different addresses to different programs. */
export function parseIpv4(text: string): Ipv4 {
  const parts = text.split('.');
  if (parts.length !== 4) throw new Error(`invalid IPv4 address "${text}"`);
  let value = 0;
  for (const part of parts) {
    if (!OCTET.test(part)) throw new Error(`invalid IPv4 address "${text}"`);
    const octet = Number(part);
    if (octet > 255) throw new Error(`invalid IPv4 address "${text}"`);
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: Ipv4): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`not a uint32: ${value}`);
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join('.');
}

export function isIpv4(text: string): boolean {
  try {
    parseIpv4(text);
    return true;
  } catch {
    return false;
  }
}
