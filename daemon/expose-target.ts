// What `weave expose`/`hide` accept, as Weave's script did: a network's subnet (any address of
// it), an address in one with its prefix (that address), and the explicit forms net:CIDR, ip:CIDR
// and net:default.
import { formatIpv4 } from '../common/ipv4.ts';
import { formatCidr, makeCidr, parseAddressWithPrefix, parseCidr } from '../ipam/cidr.ts';
import { ExposeRequestError } from './expose-error.ts';

export interface ExposeTarget {
  /** Canonical subnet of the network. */
  subnet: string;
  /** A bare IP asked for; absent: any free address. */
  address?: string;
}

export function parseExposeTarget(text: string, defaultSubnet: string): ExposeTarget {
  const bad = (why: string): ExposeRequestError =>
    new ExposeRequestError(`${JSON.stringify(text)} ${why}; give a subnet (10.32.0.0/16), an address with its prefix (10.32.0.9/16), net:default, net:CIDR or ip:CIDR`);
  if (text === 'net:default') return { subnet: formatCidr(parseCidr(defaultSubnet)) };
  const m = /^(?:(net|ip):)?(.*)$/.exec(text);
  const form = m?.[1];
  const cidr = m?.[2] ?? '';
  let parsed: { address: number; prefix: number };
  try {
    parsed = parseAddressWithPrefix(cidr);
  } catch (err) {
    throw bad(`is not a subnet or an address (${err instanceof Error ? err.message : String(err)})`);
  }
  const subnet = makeCidr(parsed.address, parsed.prefix);
  if (subnet.prefix > 30) throw bad('has no room for a host address besides the network and broadcast address');
  const isBase = subnet.base === parsed.address;
  if (form === 'net' && !isBase) throw bad(`has host bits set (did you mean net:${formatCidr(subnet)}?)`);
  if (form === 'ip' && isBase) throw bad('is the network address, not an address in it');
  return isBase ? { subnet: formatCidr(subnet) } : { subnet: formatCidr(subnet), address: formatIpv4(parsed.address) };
}
