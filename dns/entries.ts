// The weaveDNS table: every peer's entries, kept sorted case-insensitively (Weave's Entries in
// nameserver/entry.go). Pure: time comes in as arguments, nothing is sent from here.

import type { PeerName } from '../common/peer-identity.ts';
import { compareCaseInsensitive, isLive, sameIdentity, supersedes, type Entry, type Ipv4Addr } from './entry.ts';

/** Tombstones are kept this long (Weave: 30 min, twice the allowed clock skew). */
export const TOMBSTONE_TIMEOUT_S = 30 * 60;

/** Which of our entries to delete; absent fields match anything (Weave's "*"). */
export interface EntryMatch {
  /** Matched case-insensitively, as lookups are. */
  hostname?: string;
  containerId?: string;
  addr?: Ipv4Addr;
}

export interface MergeResult {
  /** Incoming entries that changed our table (new, or newer than ours): what to pass on. */
  changed: Entry[];
  /** Our own entries that a peer had a different (stale) idea of: rebroadcast these. */
  corrected: Entry[];
}

export interface MergeOptions {
  /** Entries claiming this origin are checked against our own data instead of merged. */
  ourName?: PeerName;
  /** Unix seconds, for tombstoning our stale entries a peer still holds. */
  now?: number;
}

const copy = (e: Entry): Entry => ({ ...e });

export class Entries {
  readonly #list: Entry[] = [];

  constructor(initial: Iterable<Entry> = []) {
    this.merge([...initial]);
  }

  get size(): number {
    return this.#list.length;
  }

  /** Copies of all entries, in table (case-insensitive) order. */
  all(): Entry[] {
    return this.#list.map(copy);
  }

  /** Index of the first entry not below `e`, and whether it has e's identity. */
  #search(e: Entry): { index: number; found: boolean } {
    let lo = 0;
    let hi = this.#list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareCaseInsensitive(this.#list[mid]!, e) < 0) lo = mid + 1;
      else hi = mid;
    }
    const at = this.#list[lo];
    return { index: lo, found: at !== undefined && sameIdentity(at, e) };
  }

  find(identity: Pick<Entry, 'hostname' | 'origin' | 'containerId' | 'addr'>): Entry | undefined {
    const probe: Entry = { ...identity, version: 0, tombstone: 0 };
    const { index, found } = this.#search(probe);
    return found ? copy(this.#list[index]!) : undefined;
  }

  /** Registers a name (Weave's add): a tombstoned entry with the same identity comes back to
   *  life with Version+1; an existing live one is left as it is. Returns the entry to gossip. */
  add(hostname: string, containerId: string, origin: PeerName, addr: Ipv4Addr): Entry {
    const entry: Entry = { hostname, origin, containerId, addr, version: 0, tombstone: 0 };
    const { index, found } = this.#search(entry);
    if (!found) {
      this.#list.splice(index, 0, entry);
      return copy(entry);
    }
    const cur = this.#list[index]!;
    if (cur.tombstone > 0) {
      cur.tombstone = 0;
      cur.version++;
    }
    return copy(cur);
  }

  /** Tombstones live entries of `ourName` that `match` selects: Version+1, Tombstone=now.
   *  Only the origin may delete an entry. Returns the tombstoned entries, to gossip. */
  tombstone(ourName: PeerName, match: EntryMatch, now: number): Entry[] {
    const lname = match.hostname?.toLowerCase();
    const out: Entry[] = [];
    for (const e of this.#list) {
      if (e.origin !== ourName || !isLive(e)) continue;
      if (lname !== undefined && e.hostname.toLowerCase() !== lname) continue;
      if (match.containerId !== undefined && e.containerId !== match.containerId) continue;
      if (match.addr !== undefined && e.addr !== match.addr) continue;
      e.version++;
      e.tombstone = now;
      out.push(copy(e));
    }
    return out;
  }

  tombstoneContainer(ourName: PeerName, containerId: string, now: number): Entry[] {
    return this.tombstone(ourName, { containerId }, now);
  }

  tombstoneContainerAddr(ourName: PeerName, containerId: string, addr: Ipv4Addr, now: number): Entry[] {
    return this.tombstone(ourName, { containerId, addr }, now);
  }

  tombstoneName(ourName: PeerName, hostname: string, now: number): Entry[] {
    return this.tombstone(ourName, { hostname }, now);
  }

  /** Merges entries from a peer: unknown identities are added, known ones take the incoming
   *  copy when it supersedes ours (higher Version; equal Version and later Tombstone). */
  merge(incoming: readonly Entry[], opts: MergeOptions = {}): MergeResult {
    const changed: Entry[] = [];
    const corrected: Entry[] = [];
    for (const raw of incoming) {
      const e = copy(raw);
      const { index, found } = this.#search(e);
      const cur = found ? this.#list[index]! : undefined;
      if (opts.ourName !== undefined && e.origin === opts.ourName) {
        // We are the authority on our entries: a peer's different copy loses to ours, bumped
        // past its version so that everyone (that peer included) takes ours.
        if (cur) {
          if (supersedes(e, cur)) {
            cur.version = e.version + 1;
            corrected.push(copy(cur));
          }
        } else if (e.tombstone > 0) {
          // a deletion we no longer remember: it agrees with our data
          this.#list.splice(index, 0, e);
          changed.push(copy(e));
        } else {
          // a live entry from an earlier run of ours that we do not hold any more
          const dead: Entry = { ...e, version: e.version + 1, tombstone: opts.now ?? Math.floor(Date.now() / 1000) };
          this.#list.splice(index, 0, dead);
          corrected.push(copy(dead));
        }
        continue;
      }
      if (!cur) {
        this.#list.splice(index, 0, e);
        changed.push(copy(e));
      } else if (supersedes(e, cur)) {
        cur.version = e.version;
        cur.tombstone = e.tombstone;
        changed.push(copy(cur));
      }
    }
    return { changed, corrected };
  }

  /** Live entries whose hostname equals `hostname` case-insensitively. */
  lookup(hostname: string): Entry[] {
    const lname = hostname.toLowerCase();
    const probe: Entry = { hostname: lname, origin: '', containerId: '', addr: 0, version: 0, tombstone: 0 };
    const out: Entry[] = [];
    for (let i = this.#search(probe).index; i < this.#list.length; i++) {
      const e = this.#list[i]!;
      if (e.hostname.toLowerCase() !== lname) break;
      if (isLive(e)) out.push(copy(e));
    }
    return out;
  }

  /** Live entries holding `addr`, in table order (Weave answers with the first). */
  reverseLookup(addr: Ipv4Addr): Entry[] {
    return this.#list.filter((e) => isLive(e) && e.addr === addr).map(copy);
  }

  /** Drops tombstones older than `maxAgeS`; returns how many. */
  purgeTombstones(now: number, maxAgeS = TOMBSTONE_TIMEOUT_S): number {
    return this.#removeWhere((e) => e.tombstone > 0 && now - e.tombstone > maxAgeS);
  }

  /** Drops every entry of a peer that left the topology; returns how many. */
  dropPeer(peer: PeerName): number {
    return this.#removeWhere((e) => e.origin === peer);
  }

  #removeWhere(pred: (e: Entry) => boolean): number {
    let kept = 0;
    for (const e of this.#list) if (!pred(e)) this.#list[kept++] = e;
    const removed = this.#list.length - kept;
    this.#list.length = kept;
    return removed;
  }
}
