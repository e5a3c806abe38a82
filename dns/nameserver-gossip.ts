// weaveDNS's side of the mesh: the Gossiper of channel `nameserver` (Weave's Nameserver in
// nameserver/nameserver.go). Holds the table, broadcasts our changes, merges peers' gossip.
// The mesh drives the periodic full-state gossip; this class only owns the tombstone purge.

import type { PeerName } from '../common/peer-identity.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import type { GossipChannelSender, GossipData, Gossiper } from '../router/mesh/contract.ts';
import { Entries, TOMBSTONE_TIMEOUT_S, type EntryMatch } from './entries.ts';
import { describeEntry, type Entry, type Ipv4Addr } from './entry.ts';
import { decodeNameserverGossip, encodeNameserverGossip } from './gossip-codec.ts';

/** Gossip whose timestamp is further than this from our clock is refused (Weave: half the
 *  tombstone timeout, so a tombstone outlives any accepted skew). */
export const GOSSIP_WINDOW_S = TOMBSTONE_TIMEOUT_S / 2;

/** A set of entries with the sender's time: what travels on the channel (Weave's GossipData). */
export class NameserverGossipData implements GossipData {
  constructor(
    readonly timestamp: number,
    readonly entries: readonly Entry[],
  ) {}

  encode(): Buffer[] {
    return [encodeNameserverGossip({ timestamp: this.timestamp, entries: [...this.entries] })];
  }

  merge(other: GossipData): GossipData {
    if (!(other instanceof NameserverGossipData)) throw new Error('nameserver gossip can only merge nameserver gossip');
    const merged = new Entries(this.entries);
    merged.merge(other.entries);
    return new NameserverGossipData(Math.max(this.timestamp, other.timestamp), merged.all());
  }
}

export interface NameserverGossipOptions {
  ourName: PeerName;
  /** Whether a peer is in the topology; entries of other origins are ignored. */
  knownPeer: (name: PeerName) => boolean;
  /** Where our changes go; may be set later with setSender (the mesh creates the channel
   *  after the gossiper). */
  sender?: GossipChannelSender;
  logger?: Logger;
  /** Unix seconds. */
  now?: () => number;
  /** How often tombstones are purged (Weave: every 30 min). */
  purgeIntervalMs?: number;
  tombstoneTimeoutS?: number;
}

export class NameserverGossip implements Gossiper {
  readonly #ourName: PeerName;
  readonly #knownPeer: (name: PeerName) => boolean;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #purgeIntervalMs: number;
  readonly #tombstoneTimeoutS: number;
  readonly #entries = new Entries();
  #sender: GossipChannelSender | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: NameserverGossipOptions) {
    this.#ourName = opts.ourName;
    this.#knownPeer = opts.knownPeer;
    this.#sender = opts.sender;
    this.#log = opts.logger ?? silentLogger();
    this.#now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    this.#purgeIntervalMs = opts.purgeIntervalMs ?? TOMBSTONE_TIMEOUT_S * 1000;
    this.#tombstoneTimeoutS = opts.tombstoneTimeoutS ?? TOMBSTONE_TIMEOUT_S;
  }

  setSender(sender: GossipChannelSender): void {
    this.#sender = sender;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.purgeTombstones(), this.#purgeIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  // --- local changes ---

  /** Registers hostname -> addr for a container of ours and broadcasts it (idempotent). */
  addEntry(hostname: string, containerId: string, addr: Ipv4Addr): Entry {
    // already registered and live: nothing changed, so nothing to tell the peers
    const live = this.#entries.find({ hostname, containerId, origin: this.#ourName, addr });
    if (live && live.tombstone === 0) return live;
    const e = this.#entries.add(hostname, containerId, this.#ourName, addr);
    this.#log.info('adding entry', { entry: describeEntry(e) });
    this.#broadcast([e]);
    return e;
  }

  /** Tombstones our entries that `match` selects and broadcasts them. */
  deleteEntries(match: EntryMatch): Entry[] {
    const gone = this.#entries.tombstone(this.#ourName, match, this.#now());
    for (const e of gone) this.#log.info('tombstoning entry', { entry: describeEntry(e) });
    this.#broadcast(gone);
    return gone;
  }

  containerDied(containerId: string): Entry[] {
    return this.deleteEntries({ containerId });
  }

  /** A peer left the topology: its entries go (not tombstoned: every peer drops them). */
  peerGone(peer: PeerName): void {
    const n = this.#entries.dropPeer(peer);
    if (n > 0) this.#log.info('peer gone, dropped its entries', { peer, entries: n });
  }

  purgeTombstones(): number {
    const n = this.#entries.purgeTombstones(this.#now(), this.#tombstoneTimeoutS);
    if (n > 0) this.#log.debug('purged tombstones', { count: n });
    return n;
  }

  // --- queries (the DNS server's table) ---

  lookup(hostname: string): Entry[] {
    return this.#entries.lookup(hostname);
  }

  reverseLookup(addr: Ipv4Addr): Entry[] {
    return this.#entries.reverseLookup(addr);
  }

  entries(): Entry[] {
    return this.#entries.all();
  }

  // --- Gossiper ---

  gossip(): GossipData | undefined {
    return new NameserverGossipData(this.#now(), this.#entries.all());
  }

  onGossip(update: Buffer): GossipData | undefined {
    const { changed } = this.#receive(update);
    return changed.length > 0 ? new NameserverGossipData(this.#now(), changed) : undefined;
  }

  onGossipBroadcast(_source: PeerName, update: Buffer): GossipData | undefined {
    // Weave passes on what it received (filtered), whether or not it was new to us; copies of
    // our own entries are not passed on: we broadcast ours, and correct stale ones, ourselves
    const { received, timestamp } = this.#receive(update);
    const onward = received.filter((e) => e.origin !== this.#ourName);
    return onward.length > 0 ? new NameserverGossipData(timestamp, onward) : undefined;
  }

  onGossipUnicast(_source: PeerName, _message: Buffer): void {
    // the nameserver channel has no unicast messages
  }

  #receive(update: Buffer): { received: Entry[]; changed: Entry[]; timestamp: number } {
    const payload = decodeNameserverGossip(update);
    const delta = payload.timestamp - this.#now();
    if (delta > GOSSIP_WINDOW_S || delta < -GOSSIP_WINDOW_S) {
      throw new Error(`nameserver gossip refused: clock skew of ${delta} s (allowed ±${GOSSIP_WINDOW_S} s)`);
    }
    const received = payload.entries.filter((e) => {
      const known = e.origin === this.#ourName || this.#knownPeer(e.origin);
      if (!known) this.#log.debug('ignoring entry of unknown peer', { entry: describeEntry(e) });
      return known;
    });
    const { changed, corrected } = this.#entries.merge(received, { ourName: this.#ourName, now: this.#now() });
    if (corrected.length > 0) {
      this.#log.info('peers hold stale copies of our entries; rebroadcasting ours', { count: corrected.length });
      this.#broadcast(corrected);
    }
    return { received, changed, timestamp: payload.timestamp };
  }

  #broadcast(entries: Entry[]): void {
    if (entries.length === 0 || !this.#sender) return;
    this.#sender.gossipBroadcast(new NameserverGossipData(this.#now(), entries));
  }
}
