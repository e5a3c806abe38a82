// The peer table: every peer we know of, merged from topology gossip with Weave's rules, the
// short-ID index (collisions: the lowest name keeps the ID) and garbage collection of peers
// nobody can reach any more.

import type { Logger } from '../../common/logger.ts';
import type { Clock } from './clock.ts';
import { Debouncer } from './clock.ts';
import type { PeerName, PeerSummary } from './contract.ts';
import type { LocalPeer } from './local-peer.ts';
import { Peer, comparePeerNames } from './peer.ts';
import { SHORT_ID_BITS } from './peer-name.ts';
import { reachableFrom } from './routes.ts';

export const GC_DELAY_MS = 1000;

interface ShortIdEntry {
  /** Owner of the ID: the lowest-named peer claiming it; undefined = free but used before. */
  owner?: Peer;
  others: Peer[];
}

export interface ApplyUpdateResult {
  /** Names of all peers the update described. */
  received: Set<PeerName>;
  /** Peers the update told us something new about (the delta to pass on). */
  improved: Set<PeerName>;
}

export interface PeersOptions {
  ourself: LocalPeer;
  clock: Clock;
  random?: () => number;
  logger: Logger;
  gcDelayMs?: number;
}

type Listener<A extends unknown[]> = (...args: A) => void;

export class Peers {
  readonly ourself: LocalPeer;
  private readonly byName = new Map<PeerName, Peer>();
  private readonly byShortId = new Map<number, ShortIdEntry>();
  private readonly random: () => number;
  private readonly logger: Logger;
  private readonly gc: Debouncer;
  private readonly removedListeners = new Set<Listener<[Peer]>>();
  private readonly shortIdListeners = new Set<Listener<[]>>();
  private readonly localModifiedListeners = new Set<Listener<[]>>();

  constructor(opts: PeersOptions) {
    this.ourself = opts.ourself;
    this.random = opts.random ?? Math.random;
    this.logger = opts.logger;
    this.gc = new Debouncer(opts.clock, opts.gcDelayMs ?? GC_DELAY_MS, () => this.garbageCollect());
    this.byName.set(this.ourself.name, this.ourself);
    this.ourself.localRefCount++;
    this.notifying(() => this.addByShortId(this.ourself));
  }

  stop(): void {
    this.gc.cancel();
  }

  get(name: PeerName): Peer | undefined {
    return this.byName.get(name);
  }

  getByShortId(shortId: number): Peer | undefined {
    return this.byShortId.get(shortId)?.owner;
  }

  get size(): number {
    return this.byName.size;
  }

  names(): Set<PeerName> {
    return new Set(this.byName.keys());
  }

  /** Sorted by name, so status output and tests are stable. */
  all(): Peer[] {
    return [...this.byName.values()].sort((a, b) => comparePeerNames(a.name, b.name));
  }

  onPeerRemoved(cb: Listener<[Peer]>): () => void {
    this.removedListeners.add(cb);
    return () => this.removedListeners.delete(cb);
  }

  onShortIdsInvalidated(cb: Listener<[]>): () => void {
    this.shortIdListeners.add(cb);
    return () => this.shortIdListeners.delete(cb);
  }

  /** Our own entry changed because of someone else's gossip (version pushed beyond an old
   *  incarnation's, short ID re-picked): the owner should gossip us. */
  onLocalPeerModified(cb: Listener<[]>): () => void {
    this.localModifiedListeners.add(cb);
    return () => this.localModifiedListeners.delete(cb);
  }

  /** The peer with this name, adding `candidate` when unknown; either way takes a local ref. */
  fetchWithDefault(candidate: Peer): Peer {
    const existing = this.byName.get(candidate.name);
    if (existing) {
      existing.localRefCount++;
      return existing;
    }
    this.byName.set(candidate.name, candidate);
    candidate.localRefCount++;
    this.notifying(() => this.addByShortId(candidate));
    return candidate;
  }

  fetchAndAddRef(name: PeerName): Peer | undefined {
    const peer = this.byName.get(name);
    if (peer) peer.localRefCount++;
    return peer;
  }

  dereference(peer: Peer): void {
    peer.localRefCount--;
  }

  /** Summaries of the named peers (all when omitted), ours included, in name order. */
  encode(names?: Iterable<PeerName>): PeerSummary[] {
    const wanted = names ? [...new Set(names)] : [...this.byName.keys()];
    return wanted
      .sort(comparePeerNames)
      .map((n) => this.byName.get(n))
      .filter((p): p is Peer => p !== undefined)
      .map((p) => p.summary());
  }

  /** Merge received topology. New peers (and placeholders for names seen only as connection
   *  ends) are added; a known peer is replaced only by newer information: higher version, or
   *  the same version with a higher UID, or the same version and UID newly carrying a short ID.
   *  News about ourselves from another incarnation pushes our version above it. */
  applyUpdate(update: PeerSummary[]): ApplyUpdateResult {
    const received = new Set<PeerName>();
    const improved = new Set<PeerName>();
    this.notifying((note) => {
      const fresh = new Map<PeerName, Peer>();
      for (const s of update) {
        received.add(s.name);
        if (!this.byName.has(s.name) && !fresh.has(s.name)) fresh.set(s.name, Peer.fromSummary(s));
      }
      for (const s of update) {
        for (const c of s.connections) {
          if (!this.byName.has(c.name) && !fresh.has(c.name)) fresh.set(c.name, Peer.placeholder(c.name));
        }
      }
      for (const [name, peer] of fresh) {
        this.byName.set(name, peer);
        this.addByShortId(peer, note);
      }
      for (const s of update) {
        const peer = this.byName.get(s.name);
        if (!peer) continue;
        if (peer === this.ourself) {
          if (s.uid !== peer.uid && this.ourself.setVersionBeyond(s.version)) note.localModified = true;
          continue;
        }
        const isNew = fresh.get(s.name) === peer && peer.uid === s.uid && peer.version === s.version;
        if (!isNew && !isNewer(s, peer)) continue;
        peer.version = s.version;
        peer.uid = s.uid;
        peer.nickname = s.nickname;
        peer.connections = new Map(
          s.connections.map((c) => [c.name, { remote: c.name, remoteTcpAddr: c.remoteTcpAddr, outbound: c.outbound, established: c.established }]),
        );
        if (s.shortId !== peer.shortId || s.hasShortId !== peer.hasShortId) {
          this.deleteByShortId(peer, note);
          peer.shortId = s.shortId;
          peer.hasShortId = s.hasShortId;
          this.addByShortId(peer, note);
        }
        improved.add(s.name);
      }
    });
    this.gc.arm();
    return { received, improved };
  }

  /** Ask for a collection soon; repeated requests within the delay share one run. */
  scheduleGC(): void {
    this.gc.arm();
  }

  /** Drop peers unreachable from us over any connections (as reported, either direction not
   *  required) that no local user holds. Returns the removed peers. */
  garbageCollect(): Peer[] {
    const removed: Peer[] = [];
    this.notifying((note) => {
      const reached = reachableFrom(this.ourself, (n) => this.byName.get(n));
      for (const [name, peer] of this.byName) {
        if (reached.has(name) || peer.localRefCount > 0) continue;
        this.byName.delete(name);
        this.deleteByShortId(peer, note);
        removed.push(peer);
      }
      if (removed.length > 0 && this.byShortId.get(this.ourself.shortId)?.owner !== this.ourself) note.reassignLocal = true;
    });
    for (const peer of removed) {
      this.logger.info('Removed unreachable peer', { peer: `${peer.name}(${peer.nickname})` });
      for (const cb of this.removedListeners) cb(peer);
    }
    return removed;
  }

  /** Run a mutation, then deliver what it caused (short-ID re-pick, invalidations, local change). */
  private notifying(mutate: (note: Notes) => void): void {
    const note: Notes = { invalidate: false, reassignLocal: false, localModified: false };
    mutate(note);
    if (note.reassignLocal && this.reassignLocalShortId(note)) note.localModified = true;
    if (note.invalidate) for (const cb of this.shortIdListeners) cb();
    if (note.localModified) for (const cb of this.localModifiedListeners) cb();
  }

  private addByShortId(peer: Peer, note: Notes = { invalidate: false, reassignLocal: false, localModified: false }): void {
    if (!peer.hasShortId) return;
    const entry = this.byShortId.get(peer.shortId);
    if (!entry) {
      this.byShortId.set(peer.shortId, { owner: peer, others: [] });
    } else if (!entry.owner) {
      // Reusing an ID someone held before: flows keyed on it are stale.
      entry.owner = peer;
      note.invalidate = true;
    } else if (comparePeerNames(peer.name, entry.owner.name) < 0) {
      if (entry.owner === this.ourself) note.reassignLocal = true;
      entry.others.push(entry.owner);
      entry.owner = peer;
      note.invalidate = true;
    } else {
      entry.others.push(peer);
      if (peer === this.ourself) note.reassignLocal = true;
    }
  }

  private deleteByShortId(peer: Peer, note: Notes): void {
    if (!peer.hasShortId) return;
    const entry = this.byShortId.get(peer.shortId);
    if (!entry) return;
    if (entry.owner !== peer) {
      entry.others = entry.others.filter((p) => p !== peer);
      return;
    }
    if (entry.others.length === 0) {
      // Keep the emptied entry so a later reuse is recognised as an invalidation.
      entry.owner = undefined;
      return;
    }
    const next = entry.others.reduce((a, b) => (comparePeerNames(b.name, a.name) < 0 ? b : a));
    entry.others = entry.others.filter((p) => p !== next);
    entry.owner = next;
    note.invalidate = true;
  }

  private reassignLocalShortId(note: Notes): boolean {
    const id = this.chooseShortId();
    if (id === undefined) return false;
    this.deleteByShortId(this.ourself, note);
    this.ourself.setShortId(id);
    this.addByShortId(this.ourself, note);
    this.logger.info('short ID collision: picked a new short ID', { shortId: id });
    return true;
  }

  /** A free short ID: ten random tries, then a uniform pick among the free ones. */
  chooseShortId(): number | undefined {
    const space = 1 << SHORT_ID_BITS;
    const free = (id: number): boolean => this.byShortId.get(id)?.owner === undefined;
    for (let i = 0; i < 10; i++) {
      const id = Math.floor(this.random() * space);
      if (free(id)) return id;
    }
    const available: number[] = [];
    for (let id = 0; id < space; id++) if (free(id)) available.push(id);
    if (available.length === 0) return undefined;
    return available[Math.floor(this.random() * available.length)];
  }
}

interface Notes {
  invalidate: boolean;
  reassignLocal: boolean;
  localModified: boolean;
}

function isNewer(s: PeerSummary, known: Peer): boolean {
  if (s.version !== known.version) return s.version > known.version;
  if (s.uid !== known.uid) return s.uid > known.uid;
  return s.hasShortId && !known.hasShortId;
}
