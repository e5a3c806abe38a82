// The distributed allocator (Weave's ipam.Allocator): owns this peer's view of the ring, the
// addresses it handed out, the Paxos bootstrap, and the IPallocation gossip channel. Every
// address it returns lies in space the ring says we own, so addresses are unique mesh-wide.
// Unlike Weave, every wait is bounded and says what it is waiting for.

import { join } from 'node:path';
import { readJson, writeJsonAtomic } from '../common/atomic-file.ts';
import type { Logger } from '../common/logger.ts';
import type { PeerName } from '../common/peer-identity.ts';
import type { GossipChannelSender, GossipData, Gossiper } from '../router/mesh/contract.ts';
import { biggestAlignedBlock, formatRange, intersect, rangeSize, type AddressRange } from './address-range.ts';
import { formatCidr, lastOf, parseCidr, type Cidr } from './cidr.ts';
import {
  IPAM_CHANNEL,
  UnicastType,
  decodeIpamGossip,
  decodeRange,
  encodeIpamGossip,
  encodeRange,
  encodeUnicast,
  type IpamGossip,
} from './ipam-gossip-codec.ts';
import type { IpallocInit, IpamMesh } from './ipam-mesh.ts';
import { formatIpv4, parseIpv4, type Ipv4 } from '../common/ipv4.ts';
import { PaxosNode } from './paxos.ts';
import { DifferentRangeError, DifferentSeedsError, Ring } from './ring.ts';
import { RING_STATE_VERSION, ringStateSchema, type RingState } from './ring-allocator-state.ts';

const STATE_FILE = 'ipam-ring.json';
export const DEFAULT_WAIT_MS = 10_000;
const TICK_MS = 1000;
const PROPOSE_EVERY_MS = 2000;
const MAX_CLOCK_SKEW_S = 3600;

export interface RingAllocatorOptions {
  dataDir: string;
  logger: Logger;
  range: string;
  init: IpallocInit;
  /** Called at start: the mesh is up by then. */
  mesh: () => IpamMesh;
  /** Longest an allocation or claim waits for consensus or donated space. */
  waitMs?: number;
  now?: () => number;
}

export interface RingEntryStatus {
  Token: string;
  Size: number;
  Peer: PeerName;
  Nickname: string;
  IsKnownPeer: boolean;
  Version: number;
  Free: number;
}

export interface RingAllocatorStatus {
  Status: string;
  /** Why allocations are waiting right now (empty when they are not). */
  WaitReason: string;
  Name: PeerName;
  Nickname: string;
  Mode: string;
  /** Addresses in use here that we are asking their ring owners to give back (after a rejoin). */
  Reclaiming: string[];
  Conflicts: string[];
  Paxos: { Elector: boolean; KnownNodes: number; Quorum: number } | null;
  Seeds: PeerName[];
  Range: string;
  RangeNumIPs: number;
  ActiveIPs: number;
  Entries: RingEntryStatus[];
  PendingAllocates: number;
  PendingClaims: number;
}

/** Thrown when a bounded wait ends; the message names what is missing. */
export class IpamWaitError extends Error {}

export class RingAllocator implements Gossiper {
  private readonly universe: Cidr;
  private readonly log: Logger;
  private readonly statePath: string;
  private readonly waitMs: number;
  private readonly now: () => number;
  private mesh!: IpamMesh;
  private sender: GossipChannelSender | undefined;
  private ring!: Ring;
  private paxos: PaxosNode | undefined;
  private paxosActive = false;
  /** After `rejoin`: wait for another peer's ring instead of proposing one. */
  private rejoining = false;
  /** Addresses we hand out that lie in space the ring gives to others (after a rejoin): asked
   *  back from their owners until we own them again. */
  private readonly reclaims = new Set<Ipv4>();
  /** Reclaims an owner refused because it uses the address itself: duplicates to resolve. */
  private readonly conflicts = new Map<Ipv4, PeerName>();
  private lastProposal = 0;
  private readonly owned = new Map<string, Set<Ipv4>>();
  private readonly allocated = new Map<Ipv4, string>();
  private readonly nicknames = new Map<PeerName, string>();
  private readonly waiters = new Set<() => void>();
  /** Donors that said no, per requested range, until the ring changes. */
  private readonly denied = new Map<string, Set<PeerName>>();
  /** When we last asked for space in a range: one request in flight per range, not one per
   *  waiting allocation, or a burst of requests would shred the donor's space. */
  private readonly asked = new Map<string, number>();
  private pendingAllocates = 0;
  private pendingClaims = 0;
  private waitReason = '';
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private saving: Promise<void> | undefined;
  private saveAgain = false;

  constructor(private readonly opts: RingAllocatorOptions) {
    this.universe = parseCidr(opts.range);
    this.log = opts.logger;
    this.statePath = join(opts.dataDir, STATE_FILE);
    this.waitMs = opts.waitMs ?? DEFAULT_WAIT_MS;
    this.now = opts.now ?? Date.now;
  }

  get range(): Cidr {
    return this.universe;
  }

  async start(): Promise<void> {
    this.mesh = this.opts.mesh();
    this.ring = new Ring(this.universe.base, lastOf(this.universe) + 1, this.mesh.ourName);
    this.nicknames.set(this.mesh.ourName, this.mesh.ourNickname);
    await this.load();
    const { init } = this.opts;
    if (init.mode === 'consensus' && !this.rejoining) this.paxos = new PaxosNode({ name: this.mesh.ourName, uid: this.mesh.ourUid }, Math.floor(init.count / 2) + 1);
    if (init.mode === 'seed' && this.ring.empty() && !this.rejoining) {
      this.ring.claimForPeers(init.peers);
      this.log.info('ring seeded', { seeds: this.ring.seeds });
      await this.save();
    }
    this.running = true;
    this.sender = this.mesh.newGossip(IPAM_CHANNEL, this);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    if (!this.ring.empty()) this.broadcast();
    this.log.info('distributed IPAM started', { range: formatCidr(this.universe), init: init.mode, ring: this.ring.empty() ? 'none yet' : `${this.ring.entries.length} entries`, owned: this.allocated.size });
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.wake();
    while (this.saving) await this.saving;
  }

  inRange(c: Cidr): boolean {
    return c.base >= this.universe.base && lastOf(c) <= lastOf(this.universe);
  }

  // ---- allocation API ----

  /** An address for `ident` in [span.start, span.end): the one it already has there, else the
   *  lowest free one in space we own, else space asked of a donor (`ask` is the range asked for,
   *  normally the whole subnet so donated blocks stay aligned). `fresh` skips the existing one. */
  async allocate(ident: string, span: AddressRange, ask: AddressRange, opts: { fresh?: boolean } = {}): Promise<Ipv4> {
    if (opts.fresh !== true) for (const a of this.owned.get(ident) ?? []) if (a >= span.start && a < span.end) return a;
    this.pendingAllocates++;
    try {
      return await this.waitFor(`an address in ${formatRange(span)}`, () => {
        const free = this.lowestFree(span);
        if (free !== undefined) {
          this.take(ident, free);
          return free;
        }
        this.askForSpace(ask, span);
        return undefined;
      });
    } finally {
      this.pendingAllocates--;
    }
  }

  /** Record `address` for `ident`; when another peer owns its space, ask that peer for it. */
  async claim(ident: string, address: Ipv4): Promise<void> {
    if (address < this.ring.start || address >= this.ring.end) {
      this.take(ident, address);
      await this.save();
      return;
    }
    const holder = this.allocated.get(address);
    if (holder === ident) return;
    if (holder !== undefined) throw new Error(`address ${formatIpv4(address)} is already in use (by ${holder})`);
    this.pendingClaims++;
    try {
      await this.waitFor(`address ${formatIpv4(address)}`, () => {
        const taken = this.allocated.get(address);
        if (taken !== undefined && taken !== ident) throw new Error(`address ${formatIpv4(address)} is already in use (by ${taken})`);
        const owner = this.ring.owner(address);
        if (owner === this.mesh.ourName) {
          this.take(ident, address);
          return true;
        }
        // the owner said no to exactly this address: it uses it itself (Weave fails the claim too)
        if (owner !== undefined && this.denied.get(rangeKey({ start: address, end: address + 1 }))?.has(owner)) {
          throw new Error(`address ${formatIpv4(address)} is already in use on peer ${this.describe(owner)}`);
        }
        this.askForSpace({ start: address, end: address + 1 }, { start: address, end: address + 1 });
        return undefined;
      });
    } finally {
      this.pendingClaims--;
    }
  }

  /** Free one address of `ident`, or all of them. Returns how many were freed. */
  async release(ident: string, address?: Ipv4): Promise<number> {
    const mine = this.owned.get(ident);
    if (!mine) return 0;
    const victims = address === undefined ? [...mine] : mine.has(address) ? [address] : [];
    for (const a of victims) {
      mine.delete(a);
      this.allocated.delete(a);
    }
    if (mine.size === 0) this.owned.delete(ident);
    if (victims.length > 0) {
      this.afterChange(false);
      await this.save();
    }
    return victims.length;
  }

  addressesOf(ident: string): Ipv4[] {
    return [...(this.owned.get(ident) ?? [])].sort((a, b) => a - b);
  }

  allOwned(): Map<string, Ipv4[]> {
    return new Map([...this.owned].map(([k, v]) => [k, [...v].sort((a, b) => a - b)]));
  }

  /** rmpeer: take over every range of a dead peer. Must run on one peer only. */
  async removePeer(nameOrNickname: string): Promise<{ peer: PeerName; taken: number }> {
    const peer = this.lookupPeer(nameOrNickname);
    if (peer === this.mesh.ourName) throw new Error('cannot remove ourselves: use it on another peer');
    if (this.mesh.reachable(peer)) {
      throw new Error(`peer ${this.describe(peer)} is reachable, so it is not dead: stop it for good before removing it`);
    }
    const taken = this.ring.transfer(peer);
    this.nicknames.delete(peer);
    if (taken > 0) {
      this.log.warn('took over the address space of a removed peer', { peer, addresses: taken });
      this.afterChange(true);
      await this.save();
    }
    return { peer, taken };
  }

  /** The way out of "IP allocation was seeded by different peers": drop our ring and adopt the
   *  one the peers we connect to have, then ask each address we still hand out back from
   *  whoever owns it there. Addresses another peer already uses are reported as conflicts. */
  async rejoin(): Promise<{ addresses: number }> {
    this.ring = new Ring(this.ring.start, this.ring.end, this.mesh.ourName);
    this.paxos = undefined;
    this.paxosActive = false;
    this.rejoining = true;
    this.reclaims.clear();
    this.conflicts.clear();
    this.log.warn('dropped our IPAM ring to adopt the one of the peers we connect to', { addresses: this.allocated.size });
    await this.save();
    this.wake();
    return { addresses: this.allocated.size };
  }

  status(): RingAllocatorStatus {
    const known = new Map(this.mesh.knownPeers().map((p) => [p.name, p.nickname]));
    const entries: RingEntryStatus[] = this.ring.spans().flatMap(({ entry, ranges }) =>
      ranges.map((r) => ({
        Token: formatIpv4(r.start),
        Size: rangeSize(r),
        Peer: entry.peer,
        Nickname: this.nicknames.get(entry.peer) ?? known.get(entry.peer) ?? '',
        IsKnownPeer: known.has(entry.peer),
        Version: entry.version,
        Free: entry.free,
      })),
    );
    return {
      Status: this.statusLine(),
      WaitReason: this.pendingAllocates + this.pendingClaims > 0 ? this.waitReason : '',
      Name: this.mesh.ourName,
      Nickname: this.mesh.ourNickname,
      Mode: this.rejoining ? 'rejoining' : this.opts.init.mode,
      Reclaiming: [...this.reclaims].sort((a, b) => a - b).map(formatIpv4),
      Conflicts: [...this.conflicts].map(([a, p]) => `${formatIpv4(a)} is used by ${this.describe(p)} too`),
      Paxos: this.ring.empty() && this.paxos ? { Elector: true, KnownNodes: this.paxos.knownNodes().length, Quorum: this.paxos.quorum } : null,
      Seeds: [...this.ring.seeds],
      Range: formatCidr(this.universe),
      RangeNumIPs: rangeSize({ start: this.ring.start, end: this.ring.end }),
      ActiveIPs: this.allocated.size,
      Entries: entries,
      PendingAllocates: this.pendingAllocates,
      PendingClaims: this.pendingClaims,
    };
  }

  // ---- Gossiper ----

  gossip(): GossipData | undefined {
    if (!this.running) return undefined;
    return this.gossipData();
  }

  onGossip(update: Buffer): GossipData | undefined {
    if (this.running) this.update(undefined, update);
    return undefined;
  }

  onGossipBroadcast(source: PeerName, update: Buffer): GossipData | undefined {
    if (!this.running) return undefined;
    this.update(source, update);
    return this.gossipData();
  }

  onGossipUnicast(source: PeerName, message: Buffer): void {
    if (!this.running || message.length === 0) return;
    const body = message.subarray(1);
    switch (message[0]) {
      case UnicastType.SpaceRequest:
        this.donate(decodeRange(body), source);
        break;
      case UnicastType.SpaceRequestDenied: {
        const r = decodeRange(body);
        const key = rangeKey(r);
        const set = this.denied.get(key) ?? new Set();
        set.add(source);
        this.denied.set(key, set);
        this.asked.delete(key);
        if (r.end - r.start === 1 && this.reclaims.has(r.start)) {
          this.reclaims.delete(r.start);
          this.conflicts.set(r.start, source);
          this.log.error('address in use here is also in use by its ring owner', { address: formatIpv4(r.start), owner: source });
        }
        this.wake();
        break;
      }
      case UnicastType.RingUpdate:
        this.update(source, body);
        break;
      default:
        this.log.debug('unknown IPAM unicast', { type: message[0], source });
    }
  }

  // ---- internals ----

  private gossipData(): GossipData {
    const data: GossipData = { encode: () => [this.encodeState()], merge: () => data };
    return data;
  }

  private encodeState(): Buffer {
    const g: IpamGossip = { now: Math.floor(this.now() / 1000), nicknames: this.nicknames };
    if (this.ring.empty()) {
      if (this.paxos) g.paxos = this.paxos.state();
    } else {
      g.ring = { ...this.ring.toData(), peer: this.mesh.ourName };
    }
    return encodeIpamGossip(g);
  }

  private update(sender: PeerName | undefined, buf: Buffer): void {
    const g = decodeIpamGossip(buf);
    const skew = g.now - this.now() / 1000;
    if (Math.abs(skew) > MAX_CLOCK_SKEW_S) throw new Error(`clock skew of ${Math.round(skew)}s detected, ignoring IPAM update`);
    for (const [peer, nick] of g.nicknames) this.nicknames.set(peer, nick);
    if (g.ring) {
      const wasEmpty = this.ring.empty();
      const oursBefore = this.ring.rangesOf(this.mesh.ourName).length;
      let changed: boolean;
      try {
        changed = this.ring.merge(g.ring, (ranges) => this.hasAllocations(ranges));
      } catch (err) {
        if (err instanceof DifferentSeedsError) {
          throw new Error(
            `IP allocation was seeded by different peers (received: [${this.annotate(g.ring.seeds)}], ours: [${this.annotate(this.ring.seeds)}]); see "Recovering from a split ring" in ipam/README.md`,
          );
        }
        if (err instanceof DifferentRangeError) {
          const theirs = rangeSize({ start: g.ring.start, end: g.ring.end });
          throw new Error(`Incompatible IP allocation ranges (received: ${formatIpv4(g.ring.start)}/${32 - Math.log2(theirs)}, ours: ${formatCidr(this.universe)})`);
        }
        throw err;
      }
      if (changed || wasEmpty) {
        this.denied.clear();
        // got space: a waiting allocation that still lacks some may ask again at once
        if (this.ring.rangesOf(this.mesh.ourName).length !== oursBefore) this.asked.clear();
        this.ringUpdated(wasEmpty);
      }
    }
    if (g.paxos) {
      if (!this.ring.empty()) {
        // someone is still trying to agree on a ring we already have: hand it over
        if (sender !== undefined) this.sendRingUpdate(sender);
      } else if (this.paxos && this.paxos.update(g.paxos)) {
        if (this.paxos.think()) this.broadcast();
        this.checkConsensus();
        this.wake();
      }
    }
  }

  private ringUpdated(wasEmpty: boolean): void {
    if (wasEmpty && !this.ring.empty()) {
      this.log.info('ring established', { seeds: this.ring.seeds, entries: this.ring.entries.length });
      this.paxosActive = false;
      this.rejoining = false;
      this.findReclaims();
    }
    this.reclaim();
    this.afterChange(false);
    this.saveInBackground();
  }

  private checkConsensus(): void {
    if (!this.paxos || !this.ring.empty()) return;
    const agreed = this.paxos.consensus();
    if (!agreed) return;
    this.ring.claimForPeers(agreed);
    this.log.info('IPAM consensus reached', { peers: agreed });
    this.paxosActive = false;
    this.broadcast();
    this.afterChange(false);
    this.saveInBackground();
  }

  /** Start (or keep) Paxos going when the ring is needed and we may propose. */
  private ensureRing(): void {
    if (!this.ring.empty() || !this.paxos || this.paxosActive || this.rejoining) return;
    this.paxosActive = true;
    this.propose();
  }

  private propose(): void {
    if (!this.paxos) return;
    this.lastProposal = this.now();
    this.paxos.propose();
    this.broadcast();
    this.checkConsensus();
  }

  private tick(): void {
    if (!this.running) return;
    // Weave waits for the first allocation; once every peer we expect is in the mesh there is
    // nothing to wait for, and observers (which never propose) get their ring sooner. A peer that
    // expects nobody else must still wait: seeding alone would make a ring that every mesh it
    // joins later refuses ("seeded by different peers").
    const init = this.opts.init;
    if (this.ring.empty() && init.mode === 'consensus' && init.count > 1 && this.mesh.knownPeers().length >= init.count) this.ensureRing();
    if (this.paxosActive && this.ring.empty() && this.now() - this.lastProposal >= PROPOSE_EVERY_MS) this.propose();
    if (this.pendingAllocates + this.pendingClaims > 0) this.denied.clear();
    this.reclaim();
    this.wake();
  }

  /** Run `attempt` until it yields a value, re-running it on every change and tick, at most
   *  waitMs long; then fail with the reason we were still waiting. */
  private async waitFor<T>(what: string, attempt: () => T | undefined): Promise<T> {
    const deadline = this.now() + this.waitMs;
    for (;;) {
      if (!this.running) throw new Error('IPAM is not running');
      if (this.ring.empty()) {
        this.ensureRing();
        this.waitReason = this.consensusReason();
      } else {
        const got = attempt();
        if (got !== undefined) {
          this.afterChange(false);
          await this.save();
          return got;
        }
      }
      const left = deadline - this.now();
      if (left <= 0) throw new IpamWaitError(`IPAM could not get ${what} within ${Math.round(this.waitMs / 1000)}s: ${this.waitReason}`);
      await this.nextChange(Math.min(left, TICK_MS));
    }
  }

  private consensusReason(): string {
    const init = this.opts.init;
    if (this.rejoining) return 'IPAM waiting for a ring from other peers (rejoining after weave ipam-rejoin)';
    if (init.mode === 'observer') return 'IPAM waiting for a ring: this peer is an observer and no other peer has shared a ring yet';
    const known = this.paxos?.knownNodes() ?? [];
    const names = known.map((n) => this.describe(n.name));
    return `IPAM waiting for consensus: ${known.length} of ${init.mode === 'consensus' ? init.count : '?'} peers known (quorum ${this.paxos?.quorum ?? '?'}); peers: ${names.join(', ') || 'none'}`;
  }

  /** Ask a peer owning free space in `ask` for some of it; sets waitReason either way. */
  private askForSpace(ask: AddressRange, span: AddressRange): void {
    const key = rangeKey(ask);
    const lastAsked = this.asked.get(key);
    if (lastAsked !== undefined && this.now() - lastAsked < TICK_MS) return;
    const denied = this.denied.get(key) ?? new Set<PeerName>();
    const candidates: { peer: PeerName; free: number }[] = [];
    const unreachable = new Set<PeerName>();
    const byPeer = new Map<PeerName, number>();
    for (const { entry, ranges } of this.ring.spans()) {
      if (entry.peer === this.mesh.ourName || entry.free === 0) continue;
      if (!ranges.some((r) => intersect(r, ask))) continue;
      byPeer.set(entry.peer, (byPeer.get(entry.peer) ?? 0) + entry.free);
    }
    for (const [peer, free] of byPeer) {
      if (denied.has(peer)) continue;
      if (!this.mesh.reachable(peer)) unreachable.add(peer);
      else candidates.push({ peer, free });
    }
    if (candidates.length === 0) {
      this.waitReason =
        unreachable.size > 0
          ? `all free IP ranges in ${formatRange(span)} are owned by unreachable peers (${[...unreachable].map((p) => this.describe(p)).join(', ')}) - use 'weave rmpeer' if they are dead`
          : `no free address left in ${formatRange(span)} on any peer`;
      return;
    }
    // weighted by free space, so load spreads and big holders are asked first on average
    let pick = Math.random() * candidates.reduce((n, c) => n + c.free, 0);
    let donor = candidates[0]!.peer;
    for (const c of candidates) {
      pick -= c.free;
      if (pick <= 0) {
        donor = c.peer;
        break;
      }
    }
    this.waitReason = `IPAM waiting for space in ${formatRange(span)} from ${this.describe(donor)}`;
    this.asked.set(key, this.now());
    this.sender?.gossipUnicast(donor, encodeUnicast(UnicastType.SpaceRequest, encodeRange(ask)));
  }

  /** A peer asked for space in `r`: give it the biggest aligned free block we have there, or
   *  only its upper half when that block is more than half of our free space in `r`. */
  private donate(r: AddressRange, to: PeerName): void {
    if (this.ring.empty()) return;
    const free = this.freeIntervals(r);
    const total = free.reduce((n, f) => n + rangeSize(f), 0);
    if (total === 0) {
      this.sender?.gossipUnicast(to, encodeUnicast(UnicastType.SpaceRequestDenied, encodeRange(r)));
      this.sendRingUpdate(to);
      return;
    }
    let best: AddressRange | undefined;
    for (const f of free) {
      const b = biggestAlignedBlock(f);
      if (b && (!best || rangeSize(b) > rangeSize(best))) best = b;
    }
    let chunk = best!;
    if (rangeSize(chunk) > total / 2 && rangeSize(chunk) > 1) chunk = { start: chunk.start + rangeSize(chunk) / 2, end: chunk.end };
    this.ring.grantRangeToHost(chunk.start, chunk.end, to);
    this.log.info('donated address space', { to, range: formatRange(chunk) });
    this.afterChange(true);
    this.sendRingUpdate(to);
    this.saveInBackground();
  }

  /** Addresses we hand out must lie in our own space; any that do not (after adopting another
   *  ring, or a state written before a crash) are asked back from their owners. */
  private findReclaims(): void {
    for (const a of this.allocated.keys()) {
      if (a < this.ring.start || a >= this.ring.end || this.conflicts.has(a)) continue;
      if (this.ring.owner(a) !== this.mesh.ourName) this.reclaims.add(a);
    }
    if (this.reclaims.size > 0) this.log.warn('addresses in use here lie in space of other peers; asking for them', { count: this.reclaims.size });
  }

  /** Ask owners for the addresses we use in their space, one request per address in flight. */
  private reclaim(): void {
    if (this.ring.empty() || this.reclaims.size === 0) return;
    for (const a of [...this.reclaims]) {
      const owner = this.ring.owner(a);
      if (owner === this.mesh.ourName) {
        this.reclaims.delete(a);
        continue;
      }
      const one = { start: a, end: a + 1 };
      const key = rangeKey(one);
      const last = this.asked.get(key);
      if (owner === undefined || (last !== undefined && this.now() - last < TICK_MS)) continue;
      this.asked.set(key, this.now());
      this.sender?.gossipUnicast(owner, encodeUnicast(UnicastType.SpaceRequest, encodeRange(one)));
    }
    if (this.reclaims.size === 0) this.log.info('all addresses in use here are in our own space again');
  }

  /** Free (unallocated) intervals of our own space inside `r`, ascending. */
  private freeIntervals(r: AddressRange): AddressRange[] {
    const out: AddressRange[] = [];
    const taken = [...this.allocated.keys()].filter((a) => a >= r.start && a < r.end).sort((a, b) => a - b);
    for (const own of this.ring.rangesOf(this.mesh.ourName)) {
      const part = intersect(own, r);
      if (!part) continue;
      let at = part.start;
      for (const a of taken) {
        if (a < at || a >= part.end) continue;
        if (a > at) out.push({ start: at, end: a });
        at = a + 1;
      }
      if (at < part.end) out.push({ start: at, end: part.end });
    }
    return out;
  }

  private lowestFree(span: AddressRange): Ipv4 | undefined {
    for (const own of this.ring.rangesOf(this.mesh.ourName)) {
      const part = intersect(own, span);
      if (!part) continue;
      for (let a = part.start; a < part.end; a++) if (!this.allocated.has(a)) return a;
    }
    return undefined;
  }

  private take(ident: string, a: Ipv4): void {
    const set = this.owned.get(ident) ?? new Set<Ipv4>();
    set.add(a);
    this.owned.set(ident, set);
    this.allocated.set(a, ident);
  }

  private hasAllocations(ranges: AddressRange[]): boolean {
    for (const a of this.allocated.keys()) if (ranges.some((r) => a >= r.start && a < r.end)) return true;
    return false;
  }

  /** Refresh our entries' free counts; broadcast right away when ownership moved, otherwise
   *  let the news travel with the next coalesced gossip. */
  private afterChange(ownershipMoved: boolean): void {
    if (!this.ring.empty()) {
      const changed = this.ring.reportFree((ranges) => this.freeIn(ranges));
      if (ownershipMoved) this.broadcast();
      else if (changed && this.running) this.sender?.gossipNeighbourSubset(this.gossipData());
    }
    this.wake();
  }

  private freeIn(ranges: AddressRange[]): number {
    let n = ranges.reduce((s, r) => s + rangeSize(r), 0);
    for (const a of this.allocated.keys()) if (ranges.some((r) => a >= r.start && a < r.end)) n--;
    return n;
  }

  private broadcast(): void {
    if (this.running) this.sender?.gossipBroadcast(this.gossipData());
  }

  private sendRingUpdate(to: PeerName): void {
    this.sender?.gossipUnicast(to, encodeUnicast(UnicastType.RingUpdate, this.encodeState()));
  }

  private statusLine(): string {
    if (this.ring.empty()) {
      if (this.rejoining) return 'waiting for a ring from other peers (rejoining)';
      if (this.opts.init.mode === 'observer') return 'waiting for a ring from other peers (observer)';
      if (this.paxos && this.paxosActive) return `awaiting consensus (quorum: ${this.paxos.quorum}, known: ${this.paxos.knownNodes().length})`;
      return 'idle';
    }
    if (this.pendingAllocates + this.pendingClaims > 0) {
      const reachableOwner = [...this.ring.peers()].some((p) => p === this.mesh.ourName || this.mesh.reachable(p));
      return reachableOwner ? 'waiting for IP(s) to become available' : "all IP ranges owned by unreachable peers - use 'rmpeer' if they are dead";
    }
    return 'ready';
  }

  private lookupPeer(text: string): PeerName {
    const lower = text.toLowerCase();
    for (const [name, nick] of this.nicknames) if (nick === text) return name;
    for (const p of this.mesh.knownPeers()) if (p.nickname === text) return p.name;
    if (/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(lower)) return lower;
    throw new Error(`unknown peer "${text}": give its name (aa:bb:cc:dd:ee:ff) or nickname`);
  }

  private describe(peer: PeerName): string {
    const nick = this.nicknames.get(peer);
    return nick ? `${peer}(${nick})` : peer;
  }

  private annotate(peers: PeerName[]): string {
    return peers.map((p) => this.describe(p)).join(', ');
  }

  private wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  private nextChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  // ---- persistence ----

  private async load(): Promise<void> {
    const raw = await readJson(this.statePath);
    if (raw === undefined) return;
    const parsed = ringStateSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`IPAM ring state ${this.statePath} is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const s = parsed.data;
    if (s.peerName !== this.mesh.ourName || s.range !== formatCidr(this.universe)) {
      // Weave's rule: a ring from another identity or range is not ours; start afresh
      this.log.warn('discarding persisted IPAM ring of another peer name or range', { was: { peer: s.peerName, range: s.range }, now: { peer: this.mesh.ourName, range: formatCidr(this.universe) } });
      return;
    }
    if (s.ring) this.ring = Ring.fromData({ start: this.ring.start, end: this.ring.end, ...s.ring }, this.mesh.ourName);
    for (const [ident, addrs] of Object.entries(s.owned)) for (const a of addrs) this.take(ident, parseIpv4(a));
    for (const [peer, nick] of Object.entries(s.nicknames)) if (peer !== this.mesh.ourName) this.nicknames.set(peer, nick);
    this.rejoining = s.rejoining === true && this.ring.empty();
    if (!this.ring.empty()) this.findReclaims();
  }

  private snapshot(): RingState {
    return {
      version: RING_STATE_VERSION,
      peerName: this.mesh.ourName,
      range: formatCidr(this.universe),
      ring: this.ring.empty() ? null : { entries: this.ring.entries.map((e) => ({ ...e })), seeds: [...this.ring.seeds] },
      owned: Object.fromEntries([...this.owned].map(([k, v]) => [k, [...v].sort((a, b) => a - b).map(formatIpv4)])),
      nicknames: Object.fromEntries(this.nicknames),
      ...(this.rejoining ? { rejoining: true } : {}),
    };
  }

  /** Resolves once a write that started after this call has finished: concurrent callers
   *  share writes instead of queueing one each. */
  private async save(): Promise<void> {
    if (this.saving) {
      this.saveAgain = true;
      while (this.saving) await this.saving;
      if (!this.saveAgain) return;
    }
    this.saveAgain = false;
    const write = writeJsonAtomic(this.statePath, this.snapshot());
    this.saving = write.finally(() => (this.saving = undefined));
    await this.saving;
  }

  private saveInBackground(): void {
    this.save().catch((err: unknown) => this.log.error('cannot persist IPAM state', { error: err instanceof Error ? err.message : String(err) }));
  }
}

function rangeKey(r: AddressRange): string {
  return `${r.start}-${r.end}`;
}
