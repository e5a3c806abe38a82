// struct ovs_header, which follows genlmsghdr in every OVS message: the datapath's ifindex
// (0 where no datapath is meant yet, e.g. creating one or looking one up by name).
import { readI32, writeI32 } from '../host-endian.ts';
import { OVS_HEADER_LEN } from './constants.ts';

export function encodeOvsHeader(dpIfindex: number): Buffer {
  const b = Buffer.alloc(OVS_HEADER_LEN);
  writeI32(b, dpIfindex, 0);
  return b;
}

export function decodeOvsHeader(familyHeader: Buffer): number {
  if (familyHeader.length < OVS_HEADER_LEN) throw new Error(`short ovs_header (${familyHeader.length} bytes)`);
  return readI32(familyHeader, 0);
}
