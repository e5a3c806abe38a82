// Interface names of an endpoint's veth pair. Derived from the endpoint ID alone, so a restarted
// daemon finds the links of a record, and leftovers of a crash are recognisable by prefix.
// Linux allows 15 characters: 6 of prefix + 9 of the ID.

export const HOST_VETH_PREFIX = 'vethwl';
export const GUEST_VETH_PREFIX = 'vethwg';
const ID_CHARS = 9;

export interface VethNames {
  host: string;
  guest: string;
}

export function vethNamesFor(endpointId: string): VethNames {
  const suffix = endpointId.slice(0, ID_CHARS);
  return { host: HOST_VETH_PREFIX + suffix, guest: GUEST_VETH_PREFIX + suffix };
}

export function isHostVethName(name: string): boolean {
  return name.startsWith(HOST_VETH_PREFIX);
}
