// One weaveDNS record as Weave Net's nameserver keeps and gossips it (nameserver/entry.go):
// a (hostname, origin peer, container, IPv4 address) tuple with a version and a tombstone time.

import { formatIpv4, parseIpv4 } from '../common/ipv4.ts';
import type { PeerName } from '../common/peer-identity.ts';

/** IPv4 address as an unsigned 32-bit number (Weave's address.Address, a uint32). */
export type Ipv4Addr = number;

export interface Entry {
  /** As supplied; looked up case-insensitively. */
  hostname: string;
  /** The peer that registered the name; only it may tombstone the entry. */
  origin: PeerName;
  containerId: string;
  addr: Ipv4Addr;
  /** Bumped on every tombstone and every revival. */
  version: number;
  /** Unix seconds when the entry was deleted; 0 = live. */
  tombstone: number;
}

/** Container id of names registered for something that is not a container (`weave dns-add`
 *  without one), as Weave's script used. */
export const EXTERNAL_CONTAINER = 'weave:extern';

export const isLive = (e: Entry): boolean => e.tombstone === 0;

/** Weave's identity of an entry: hostname (exact case), origin, container and address. */
export function sameIdentity(a: Entry, b: Entry): boolean {
  return a.hostname === b.hostname && a.origin === b.origin && a.containerId === b.containerId && a.addr === b.addr;
}

// Go compares strings byte by byte (UTF-8). JS compares UTF-16 code units, which agrees except
// when surrogates meet U+E000..U+FFFF; fall back to bytes only then.
const NEEDS_BYTES = /[\ud800-\uffff]/;
export function compareGoStrings(a: string, b: string): number {
  if (a === b) return 0;
  if (NEEDS_BYTES.test(a) || NEEDS_BYTES.test(b)) return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  return a < b ? -1 : 1;
}

// Peer names are fixed-width lower-case hex, so string order is numeric (uint64) order.
const compareTail = (a: Entry, b: Entry): number =>
  compareGoStrings(a.origin, b.origin) || compareGoStrings(a.containerId, b.containerId) || a.addr - b.addr;

/** The order of gossip payloads (Weave's CaseSensitive): hostname, origin, container, address. */
export function compareCaseSensitive(a: Entry, b: Entry): number {
  return compareGoStrings(a.hostname, b.hostname) || compareTail(a, b);
}

/** The order of the local table (Weave's CaseInsensitive), with the exact hostname as a final
 *  tie-break so that "Foo" and "foo" (distinct identities) have a defined place. */
export function compareCaseInsensitive(a: Entry, b: Entry): number {
  return (
    compareGoStrings(a.hostname.toLowerCase(), b.hostname.toLowerCase()) || compareTail(a, b) || compareGoStrings(a.hostname, b.hostname)
  );
}

/** Whether `incoming` should replace `current` (same identity): higher Version wins; on equal
 *  Version the later Tombstone wins, so that two copies of one version always converge. */
export function supersedes(incoming: Entry, current: Entry): boolean {
  if (incoming.version !== current.version) return incoming.version > current.version;
  return incoming.tombstone > current.tombstone;
}

/** Dotted quad -> Ipv4Addr (the shared parser: no leading zeros, octets ≤ 255). */
export const parseIpv4Addr = parseIpv4;
export const formatIpv4Addr = formatIpv4;

export function describeEntry(e: Entry): string {
  return `${e.hostname} -> ${formatIpv4Addr(e.addr)} (container ${e.containerId}, origin ${e.origin}, v${e.version}${e.tombstone ? `, deleted at ${e.tombstone}` : ''})`;
}
