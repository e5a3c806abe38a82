// Weave's ring CRDT: the address universe [start, end) is cut by sorted tokens; each entry owns
// the addresses from its token up to the next one (the last wraps round to the first). Entries
// carry a version so that gossip can merge rings from different peers without coordination:
// only an entry's owner changes it (bumping the version), except when a peer is removed for good.

import type { PeerName } from '../common/peer-identity.ts';
import type { AddressRange } from './address-range.ts';
import { formatIpv4, type Ipv4 } from '../common/ipv4.ts';

export interface RingEntry {
  token: Ipv4;
  peer: PeerName;
  version: number;
  /** Free addresses in this entry's span, as last reported by its owner. */
  free: number;
}

export interface RingData {
  start: Ipv4;
  end: Ipv4;
  entries: RingEntry[];
  seeds: PeerName[];
}

/** Version jump when a peer takes over a dead peer's space, so the takeover wins every merge
 *  against updates the dead peer may still have in flight. */
export const TAKEOVER_VERSION_BUMP = 100;

export class RingMergeError extends Error {}
export class DifferentSeedsError extends RingMergeError {}
export class DifferentRangeError extends RingMergeError {}

/** Tells whether we have addresses allocated in any of these ranges. */
export type HasAllocations = (ranges: AddressRange[]) => boolean;

export class Ring {
  entries: RingEntry[] = [];
  seeds: PeerName[] = [];

  constructor(
    readonly start: Ipv4,
    readonly end: Ipv4,
    /** Our own name: the merge rules protect entries we own. */
    readonly ourName: PeerName,
  ) {
    if (!(start < end)) throw new Error('ring range is empty');
  }

  static fromData(data: RingData, ourName: PeerName): Ring {
    const r = new Ring(data.start, data.end, ourName);
    r.entries = data.entries.map((e) => ({ ...e }));
    r.seeds = [...data.seeds];
    const err = r.check(r.entries);
    if (err) throw new RingMergeError(err);
    return r;
  }

  toData(): RingData {
    return { start: this.start, end: this.end, entries: this.entries.map((e) => ({ ...e })), seeds: [...this.seeds] };
  }

  empty(): boolean {
    return this.entries.length === 0;
  }

  /** Distance from token a forward to token b, wrapping at the end of the universe. */
  distance(a: Ipv4, b: Ipv4): number {
    return b > a ? b - a : this.end - a + (b - this.start);
  }

  /** Token of the entry after index i (wrapping). */
  private nextToken(entries: RingEntry[], i: number): Ipv4 {
    return entries[(i + 1) % entries.length]!.token;
  }

  /** Spans of one entry as plain ranges (split in two when it wraps round the universe). */
  private spansOf(entries: RingEntry[], i: number): AddressRange[] {
    const from = entries[i]!.token;
    const to = this.nextToken(entries, i);
    if (to > from) return [{ start: from, end: to }];
    const out: AddressRange[] = [];
    if (from < this.end) out.push({ start: from, end: this.end });
    if (to > this.start) out.unshift({ start: this.start, end: to });
    return out;
  }

  /** Ranges owned by `peer`, ascending. */
  rangesOf(peer: PeerName): AddressRange[] {
    const out: AddressRange[] = [];
    this.entries.forEach((e, i) => {
      if (e.peer === peer) out.push(...this.spansOf(this.entries, i));
    });
    return out.sort((a, b) => a.start - b.start);
  }

  /** Each entry with its spans, for status and donor choice. */
  spans(): { entry: RingEntry; ranges: AddressRange[] }[] {
    return this.entries.map((entry, i) => ({ entry, ranges: this.spansOf(this.entries, i) }));
  }

  owner(address: Ipv4): PeerName | undefined {
    if (this.entries.length === 0 || address < this.start || address >= this.end) return undefined;
    let owner = this.entries[this.entries.length - 1]!.peer;
    for (const e of this.entries) {
      if (e.token <= address) owner = e.peer;
      else break;
    }
    return owner;
  }

  peers(): Set<PeerName> {
    return new Set(this.entries.map((e) => e.peer));
  }

  /** The initial split among the agreed peers: recursive halving into CIDR-aligned blocks, one
   *  per peer, so every peer starts with a contiguous, aligned share. */
  claimForPeers(peers: PeerName[]): void {
    if (!this.empty()) throw new Error('claimForPeers on a ring that already has entries');
    const sorted = [...new Set(peers)].sort();
    if (sorted.length === 0) throw new Error('claimForPeers needs at least one peer');
    const out: RingEntry[] = [];
    const subdivide = (from: number, to: number, names: string[]): void => {
      const share = to - from;
      if (share === 0) return;
      if (share === 1 || names.length === 1) {
        out.push({ token: from, peer: names[0]!, version: 0, free: share });
        return;
      }
      const mid = from + Math.floor(share / 2);
      const half = Math.floor(names.length / 2);
      subdivide(from, mid, names.slice(0, half));
      subdivide(mid + (share % 2), to, names.slice(half));
    };
    subdivide(this.start, this.end, sorted);
    this.entries = out;
    this.seeds = sorted;
  }

  /** Give [start, end) — which we own entirely — to `peer`. Inserts tokens at both ends when
   *  missing; handed-over entries get a new version so the change wins merges everywhere. */
  grantRangeToHost(start: Ipv4, end: Ipv4, peer: PeerName): void {
    if (!(start < end) || start < this.start || end > this.end) throw new Error(`grant of a bad range ${start}-${end}`);
    for (const r of this.rangesOf(this.ourName)) {
      if (r.start <= start && end <= r.end) {
        this.split(start);
        this.split(end === this.end ? this.start : end);
        this.entries.forEach((e, i) => {
          if (e.token >= start && e.token < end) {
            e.peer = peer;
            e.version += 1;
            e.free = Math.min(e.free, this.distance(e.token, this.nextToken(this.entries, i)));
          }
        });
        return;
      }
    }
    throw new Error(`cannot grant ${formatIpv4(start)}-${formatIpv4(end - 1)}: not all of it is ours`);
  }

  /** Make sure a token sits at `at`, splitting the entry that spans it. */
  private split(at: Ipv4): void {
    if (this.entries.some((e) => e.token === at)) return;
    let idx = this.entries.length - 1;
    for (let i = 0; i < this.entries.length; i++) if (this.entries[i]!.token < at) idx = i;
    const host = this.entries[idx]!;
    const next = this.nextToken(this.entries, idx);
    const fresh: RingEntry = { token: at, peer: host.peer, version: 0, free: Math.min(host.free, this.distance(at, next)) };
    host.free = Math.min(host.free, this.distance(host.token, at));
    // a new version, or peers would keep the wider free count and reject the new token
    host.version += 1;
    this.entries.push(fresh);
    this.entries.sort((a, b) => a.token - b.token);
  }

  /** Our owner reports how many addresses are free in each of its entries; returns whether any
   *  changed (each change bumps that entry's version so it spreads). */
  reportFree(freeOf: (ranges: AddressRange[]) => number): boolean {
    let changed = false;
    this.entries.forEach((e, i) => {
      if (e.peer !== this.ourName) return;
      const free = freeOf(this.spansOf(this.entries, i));
      if (free !== e.free) {
        e.free = free;
        e.version += 1;
        changed = true;
      }
    });
    return changed;
  }

  /** Take over every entry of `dead` (rmpeer). Returns the number of addresses taken over. */
  transfer(dead: PeerName): number {
    let total = 0;
    this.entries.forEach((e, i) => {
      if (e.peer !== dead) return;
      e.peer = this.ourName;
      e.version += TAKEOVER_VERSION_BUMP;
      const span = this.distance(e.token, this.nextToken(this.entries, i));
      e.free = span;
      total += span;
    });
    return total;
  }

  /** Merge a ring received by gossip. Returns whether ours changed. Throws a RingMergeError when
   *  the rings cannot be reconciled; gossip then drops the connection, as Weave does. */
  merge(theirs: RingData, hasAllocations: HasAllocations): boolean {
    const bad = this.checkWith(theirs, theirs.entries);
    if (bad) throw new RingMergeError(`received ring is invalid: ${bad}`);
    if (theirs.seeds.length > 0 && this.seeds.length > 0 && !sameList(theirs.seeds, this.seeds)) {
      throw new DifferentSeedsError('rings seeded differently');
    }
    if (theirs.start !== this.start || theirs.end !== this.end) throw new DifferentRangeError('ranges differ');
    const { result, updated } = this.mergeEntries(theirs.entries, hasAllocations);
    // a range of ours that someone split without allocations may report more free than it spans
    result.forEach((e, i) => {
      const span = this.distance(e.token, this.nextToken(result, i));
      if (e.peer === this.ourName && e.free > span) e.free = span;
    });
    const err = this.check(result);
    if (err) throw new RingMergeError(`merge of incoming data causes: ${err}`);
    if (this.seeds.length === 0 && theirs.seeds.length > 0) this.seeds = [...theirs.seeds];
    this.entries = result;
    return updated;
  }

  private mergeEntries(other: RingEntry[], hasAllocations: HasAllocations): { result: RingEntry[]; updated: boolean } {
    const mine = this.entries;
    const us = this.ourName;
    const result: RingEntry[] = [];
    let updated = false;
    // owner of the span the next incoming token would cut into (undefined after taking theirs)
    let previousOwner: PeerName | undefined;
    const spanOfMine = (i: number): AddressRange[] => this.spansOf(mine, i);
    const takeTheirs = (e: RingEntry): void => {
      result.push({ ...e });
      updated = true;
      previousOwner = undefined;
    };
    const keepMine = (e: RingEntry): void => {
      result.push({ ...e });
      previousOwner = e.peer;
    };
    let i = 0;
    let j = 0;
    while (i < mine.length && j < other.length) {
      const m = mine[i]!;
      const t = other[j]!;
      if (m.token < t.token) {
        keepMine(m);
        i++;
      } else if (m.token > t.token) {
        if (previousOwner === us && t.peer !== us && hasAllocations(this.cut(t.token, m.token))) {
          throw new RingMergeError(`peer ${t.peer} says it owns the IP range from ${formatIpv4(t.token)}, which I think I own`);
        }
        takeTheirs(t);
        j++;
      } else {
        if (m.version > t.version || (m.version === t.version && sameEntry(m, t))) {
          keepMine(m);
        } else if (m.version === t.version) {
          if (m.peer === us && hasAllocations(spanOfMine(i))) {
            throw new RingMergeError(`inconsistent entries for ${formatIpv4(m.token)}: owned by ${m.peer} but incoming message says ${t.peer}`);
          }
          // tie-break on the larger free count, as Weave does
          if (m.free >= t.free) keepMine(m);
          else takeTheirs(t);
        } else if (m.peer === us) {
          if (t.peer !== us && !hasAllocations(spanOfMine(i))) {
            takeTheirs(t);
          } else if (t.peer === us) {
            // an old incarnation of us said something newer: reassert what we hold now
            result.push({ ...m, version: t.version + 1 });
            previousOwner = us;
            updated = true;
          } else {
            throw new RingMergeError(
              `received update for IP range I own at ${formatIpv4(m.token)} v${m.version}: incoming message says owner ${t.peer} v${t.version}`,
            );
          }
        } else {
          takeTheirs(t);
        }
        i++;
        j++;
      }
    }
    for (; i < mine.length; i++) keepMine(mine[i]!);
    for (; j < other.length; j++) {
      const t = other[j]!;
      if (previousOwner === us && t.peer !== us) {
        throw new RingMergeError(`peer ${t.peer} says it owns the IP range from ${formatIpv4(t.token)}, which I think I own`);
      }
      takeTheirs(t);
    }
    return { result, updated };
  }

  /** [from, to) on the ring as plain ranges. */
  private cut(from: Ipv4, to: Ipv4): AddressRange[] {
    if (to > from) return [{ start: from, end: to }];
    return [
      ...(to > this.start ? [{ start: this.start, end: to }] : []),
      ...(from < this.end ? [{ start: from, end: this.end }] : []),
    ];
  }

  private check(entries: RingEntry[]): string | undefined {
    return this.checkWith(this, entries);
  }

  private checkWith(range: { start: number; end: number }, entries: RingEntry[]): string | undefined {
    for (let i = 1; i < entries.length; i++) {
      if (entries[i - 1]!.token > entries[i]!.token) return 'ring not sorted';
      if (entries[i - 1]!.token === entries[i]!.token) return 'token appears twice in ring';
    }
    if (entries.length === 0) return undefined;
    if (entries[0]!.token < range.start || entries[entries.length - 1]!.token >= range.end) return 'token is out of range';
    const probe = new Ring(range.start, range.end, this.ourName);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const span = probe.distance(e.token, entries[(i + 1) % entries.length]!.token);
      if (e.free > span) return `entry ${formatIpv4(e.token)} reports too much free space: ${e.free} > ${span}`;
    }
    return undefined;
  }
}

function sameList(a: PeerName[], b: PeerName[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameEntry(a: RingEntry, b: RingEntry): boolean {
  return a.token === b.token && a.peer === b.peer && a.version === b.version && a.free === b.free;
}
