// The MAC of a container's weave interface, derived from its IPv4 address the way Docker's own
// bridge and overlay drivers derive theirs (02:42 and the four address bytes). A container that
// is stopped and started again gets a new endpoint but the same address, and with a derived MAC
// also the same MAC: peers that still hold it in their ARP cache keep reaching it. With a
// kernel-chosen MAC they sent to the old one until Linux gave up on it, which a restarted
// container on another host showed as 20 s and more without answers. Addresses are unique
// across every weave network (IPAM hands them out, networks may not overlap), so the MACs are too.
import { parseIpv4 } from '../common/ipv4.ts';

/** "10.40.1.0/16" or "10.40.1.0" → "02:42:0a:28:01:00". */
export function endpointMacFor(address: string): string {
  const ip = parseIpv4(address.split('/')[0]!);
  const bytes = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
