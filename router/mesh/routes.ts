// Route computation over the topology: a deterministic breadth-first search (each level visited
// in name order) gives every peer the same view of who forwards to whom, which is what makes
// broadcast delivery exactly-once on a stable topology.

import type { Clock } from './clock.ts';
import { Debouncer } from './clock.ts';
import type { PeerName } from './contract.ts';
import type { Peer } from './peer.ts';
import { comparePeerNames } from './peer.ts';

export const RECALC_DELAY_MS = 100;

export type PeerLookup = (name: PeerName) => Peer | undefined;

/** Neighbours of `peer` to follow in a search. With `establishedAndSymmetric` only connections
 *  marked established at both ends count (what the data plane can use); otherwise every
 *  connection `peer` reports counts (what gossip can use). */
function connectedPeers(peer: Peer, lookup: PeerLookup, establishedAndSymmetric: boolean): Peer[] {
  const out: Peer[] = [];
  for (const conn of peer.connections.values()) {
    if (establishedAndSymmetric && !conn.established) continue;
    const remote = lookup(conn.remote);
    if (!remote) continue;
    if (establishedAndSymmetric && remote.connections.get(peer.name)?.established !== true) continue;
    out.push(remote);
  }
  return out;
}

export interface SearchResult {
  /** Whether `stopAt` was reached (the search ends when it is taken off the work list). */
  found: boolean;
  /** Every peer reached, mapped to the first hop from the start (the start maps to undefined). */
  hops: Map<PeerName, PeerName | undefined>;
}

export function breadthFirst(start: Peer, lookup: PeerLookup, establishedAndSymmetric: boolean, stopAt?: Peer): SearchResult {
  const hops = new Map<PeerName, PeerName | undefined>([[start.name, undefined]]);
  let next: Peer[] = [start];
  while (next.length > 0) {
    const level = next.sort((a, b) => comparePeerNames(a.name, b.name));
    next = [];
    for (const cur of level) {
      if (cur === stopAt) return { found: true, hops };
      for (const remote of connectedPeers(cur, lookup, establishedAndSymmetric)) {
        if (hops.has(remote.name)) continue;
        hops.set(remote.name, cur === start ? remote.name : hops.get(cur.name));
        next.push(remote);
      }
    }
  }
  return { found: false, hops };
}

export function reachableFrom(start: Peer, lookup: PeerLookup): Set<PeerName> {
  return new Set(breadthFirst(start, lookup, false).hops.keys());
}

/** Next hop from `ourself` to every reachable peer (ourselves excluded). */
export function unicastTable(ourself: Peer, lookup: PeerLookup, establishedAndSymmetric: boolean): Map<PeerName, PeerName> {
  const table = new Map<PeerName, PeerName>();
  for (const [dst, hop] of breadthFirst(ourself, lookup, establishedAndSymmetric).hops) {
    if (hop !== undefined) table.set(dst, hop);
  }
  return table;
}

/** Where we pass a broadcast from `source`: search from the source until we come up, then our
 *  neighbours that search has not reached yet (someone closer to the source covers the rest). */
export function broadcastHops(ourself: Peer, source: Peer | undefined, lookup: PeerLookup, establishedAndSymmetric: boolean): PeerName[] {
  if (!source) return [];
  const { found, hops } = breadthFirst(source, lookup, establishedAndSymmetric, ourself);
  if (!found) return [];
  return connectedPeers(ourself, lookup, establishedAndSymmetric)
    .map((p) => p.name)
    .filter((n) => !hops.has(n))
    .sort(comparePeerNames);
}

export interface RoutesOptions {
  ourself: Peer;
  lookup: PeerLookup;
  clock: Clock;
  random?: () => number;
  recalcDelayMs?: number;
}

/** Route tables for our peer, recalculated (coalesced) after topology changes. Broadcast routes
 *  for other sources are computed on first use and cached until the next recalculation. */
export class Routes {
  private unicast = new Map<PeerName, PeerName>();
  private unicastAllTable = new Map<PeerName, PeerName>();
  private broadcast = new Map<PeerName, PeerName[]>();
  private broadcastAllCache = new Map<PeerName, PeerName[]>();
  private readonly listeners = new Set<() => void>();
  private readonly recalc: Debouncer;
  private readonly random: () => number;

  constructor(private readonly opts: RoutesOptions) {
    this.random = opts.random ?? Math.random;
    this.recalc = new Debouncer(opts.clock, opts.recalcDelayMs ?? RECALC_DELAY_MS, () => this.calculate());
    this.calculate();
  }

  stop(): void {
    this.recalc.cancel();
  }

  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Request a recalculation; requests within the delay share one. */
  recalculate(): void {
    this.recalc.arm();
  }

  /** Apply a pending recalculation now (readers that must see the latest topology). */
  ensureRecalculated(): void {
    this.recalc.flush();
  }

  unicastNextHop(dst: PeerName): PeerName | undefined {
    return this.unicast.get(dst);
  }

  unicastAll(dst: PeerName): PeerName | undefined {
    return this.unicastAllTable.get(dst);
  }

  broadcastNextHops(source: PeerName): PeerName[] {
    return this.cached(this.broadcast, source, true);
  }

  broadcastAll(source: PeerName): PeerName[] {
    return this.cached(this.broadcastAllCache, source, false);
  }

  unicastEntries(): [PeerName, PeerName][] {
    return [...this.unicast].sort((a, b) => comparePeerNames(a[0], b[0]));
  }

  /** Broadcast routes for every known source (for status). */
  broadcastEntries(sources: Iterable<PeerName>): [PeerName, PeerName[]][] {
    return [...sources].sort(comparePeerNames).map((s) => [s, this.broadcastNextHops(s)]);
  }

  /** Up to min(⌊2·log2(#reachable peers)⌋, #neighbours) neighbours other than `except`, drawn
   *  without replacement with weight = number of destinations routed through each, so that
   *  neighbours behind bottleneck links are favoured. */
  randomNeighbours(except?: PeerName): PeerName[] {
    const weights = new Map<PeerName, number>();
    for (const hop of this.unicastAllTable.values()) {
      if (hop === except) continue;
      weights.set(hop, (weights.get(hop) ?? 0) + 1);
    }
    const n = this.unicastAllTable.size + 1;
    const count = Math.min(Math.floor(2 * Math.log2(n)), weights.size);
    const pool = [...weights].sort((a, b) => comparePeerNames(a[0], b[0]));
    const chosen: PeerName[] = [];
    while (chosen.length < count && pool.length > 0) {
      const total = pool.reduce((sum, [, w]) => sum + w, 0);
      let r = this.random() * total;
      let idx = 0;
      for (; idx < pool.length - 1; idx++) {
        r -= pool[idx]![1];
        if (r < 0) break;
      }
      chosen.push(pool[idx]![0]);
      pool.splice(idx, 1);
    }
    return chosen.sort(comparePeerNames);
  }

  private cached(cache: Map<PeerName, PeerName[]>, source: PeerName, establishedAndSymmetric: boolean): PeerName[] {
    const hit = cache.get(source);
    if (hit) return hit;
    const hops = broadcastHops(this.opts.ourself, this.opts.lookup(source), this.opts.lookup, establishedAndSymmetric);
    cache.set(source, hops);
    return hops;
  }

  private calculate(): void {
    const { ourself, lookup } = this.opts;
    const unicast = unicastTable(ourself, lookup, true);
    const unicastAll = unicastTable(ourself, lookup, false);
    const changed = !sameMap(unicast, this.unicast) || !sameMap(unicastAll, this.unicastAllTable) || this.neighboursChanged();
    this.unicast = unicast;
    this.unicastAllTable = unicastAll;
    this.broadcast = new Map();
    this.broadcastAllCache = new Map();
    this.lastNeighbours = this.neighbourKey();
    if (changed) for (const cb of this.listeners) cb();
  }

  private lastNeighbours = '';

  /** Broadcast routes can change without any unicast change (a link between two others). */
  private neighboursChanged(): boolean {
    return this.neighbourKey() !== this.lastNeighbours;
  }

  private neighbourKey(): string {
    // A cheap fingerprint of the whole topology's connection structure.
    const parts: string[] = [];
    const seen = new Set<PeerName>();
    const stack: Peer[] = [this.opts.ourself];
    while (stack.length > 0) {
      const p = stack.pop()!;
      if (seen.has(p.name)) continue;
      seen.add(p.name);
      for (const c of p.connections.values()) {
        parts.push(`${p.name}>${c.remote}:${c.established ? 1 : 0}`);
        const r = this.opts.lookup(c.remote);
        if (r) stack.push(r);
      }
    }
    return parts.sort().join(',');
  }
}

function sameMap<K, V>(a: Map<K, V>, b: Map<K, V>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
