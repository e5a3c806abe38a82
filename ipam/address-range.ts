// Half-open address ranges [start, end) on the uint32 representation, and the CIDR-aligned
// blocks IPAM hands between peers (aligned blocks keep donated space expressible as subnets).

import type { Ipv4 } from '../common/ipv4.ts';
import { formatIpv4 } from '../common/ipv4.ts';

export interface AddressRange {
  start: Ipv4;
  /** Exclusive. */
  end: Ipv4;
}

export function rangeSize(r: AddressRange): number {
  return r.end - r.start;
}

export function intersect(a: AddressRange, b: AddressRange): AddressRange | undefined {
  const start = Math.max(a.start, b.start);
  const end = Math.min(a.end, b.end);
  return start < end ? { start, end } : undefined;
}

export function formatRange(r: AddressRange): string {
  return `${formatIpv4(r.start)}-${formatIpv4(r.end - 1)}`;
}

/** The biggest block that starts at `start`, is aligned to its own size and ends by `end`. */
function alignedBlockAt(start: Ipv4, end: Ipv4): number {
  let size = 1;
  while (start % (size * 2) === 0 && start + size * 2 <= end && size < 2 ** 31) size *= 2;
  return size;
}

/** The biggest CIDR-aligned block inside [start, end); the lowest one when several tie. */
export function biggestAlignedBlock(r: AddressRange): AddressRange | undefined {
  let best: AddressRange | undefined;
  let at = r.start;
  while (at < r.end) {
    const size = alignedBlockAt(at, r.end);
    if (best === undefined || size > rangeSize(best)) best = { start: at, end: at + size };
    at += size;
  }
  return best;
}
