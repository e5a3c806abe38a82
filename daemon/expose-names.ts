// Interface names of the host's port on one weave network. Derived from the subnet alone, so a
// restarted daemon finds its links, and 15 characters fit: a prefix plus the base address in hex
// (10.32.0.0 -> 0a200000). Neither starts with the plugin's `vethwl`, so the plugin's clean-up of
// unrecorded container veths never takes them.
import { parseCidr } from '../ipam/cidr.ts';

export const HOST_PORT_PREFIX = 'vethwex';
export const HOST_END_PREFIX = 'weavex';

export function hostPortNames(subnet: string): { port: string; hostName: string } {
  const hex = parseCidr(subnet).base.toString(16).padStart(8, '0');
  return { port: HOST_PORT_PREFIX + hex, hostName: HOST_END_PREFIX + hex };
}
