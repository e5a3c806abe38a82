// MAC address -> peer, learned from traffic (Weave's router/mac_cache.go). MACs are 48-bit
// numbers (read straight from the frame with readUIntBE) so lookups allocate nothing.
// Entries expire after maxAge without traffic; last-seen is refreshed at most every maxAge/10
// so busy flows do not rewrite the entry for every frame.
import type { PeerName } from '../mesh/contract.ts';

export const MAC_MAX_AGE_MS = 10 * 60 * 1000;

export const MacAdd = {
  /** Already known at this peer. */
  Known: 0,
  /** Newly learned (or, for addForced, learned again after expiry). */
  New: 1,
  /** Known at another peer: add() keeps the old entry; addForced() moved it. */
  Conflict: 2,
} as const;
export type MacAdd = (typeof MacAdd)[keyof typeof MacAdd];

interface Entry {
  peer: PeerName;
  lastSeen: number;
}

export interface MacCacheOptions {
  maxAgeMs?: number;
  now?: () => number;
  onExpiry?: (mac: number, peer: PeerName) => void;
}

export function macToString(mac: number): string {
  return mac.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}

export function macFromString(text: string): number {
  const hex = text.replace(/:/g, '');
  if (!/^[0-9a-fA-F]{12}$/.test(hex)) throw new Error(`bad MAC ${text}`);
  return parseInt(hex, 16);
}

export class MacCache {
  private readonly table = new Map<number, Entry>();
  private readonly maxAge: number;
  private readonly now: () => number;
  private readonly onExpiry: (mac: number, peer: PeerName) => void;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: MacCacheOptions = {}) {
    this.maxAge = opts.maxAgeMs ?? MAC_MAX_AGE_MS;
    this.now = opts.now ?? Date.now;
    this.onExpiry = opts.onExpiry ?? (() => undefined);
  }

  /** Sweeps expired entries every maxAge/10 (1 min by default). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.expire(), this.maxAge / 10);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get size(): number {
    return this.table.size;
  }

  /** Learns mac at peer unless another peer already has it (then Conflict, unchanged). */
  add(mac: number, peer: PeerName): MacAdd {
    const e = this.table.get(mac);
    if (e === undefined) {
      this.table.set(mac, { peer, lastSeen: this.now() });
      return MacAdd.New;
    }
    if (e.peer !== peer) return MacAdd.Conflict;
    this.touch(e);
    return MacAdd.Known;
  }

  /** Learns mac at peer, moving it from any other peer (Conflict = it moved). */
  addForced(mac: number, peer: PeerName): MacAdd {
    const e = this.table.get(mac);
    if (e === undefined) {
      this.table.set(mac, { peer, lastSeen: this.now() });
      return MacAdd.New;
    }
    if (e.peer !== peer) {
      e.peer = peer;
      e.lastSeen = this.now();
      return MacAdd.Conflict;
    }
    this.touch(e);
    return MacAdd.Known;
  }

  lookup(mac: number): PeerName | undefined {
    return this.table.get(mac)?.peer;
  }

  /** Drops every MAC of a peer (it left the network). Returns whether any were known. */
  deletePeer(peer: PeerName): boolean {
    let found = false;
    for (const [mac, e] of this.table) {
      if (e.peer === peer) {
        this.table.delete(mac);
        found = true;
      }
    }
    return found;
  }

  /** Removes entries not seen for maxAge; called by the timer, public for tests. */
  expire(): void {
    const now = this.now();
    for (const [mac, e] of this.table) {
      if (now - e.lastSeen > this.maxAge) {
        this.table.delete(mac);
        this.onExpiry(mac, e.peer);
      }
    }
  }

  entries(): { mac: string; peer: PeerName; lastSeen: number }[] {
    return [...this.table].map(([mac, e]) => ({ mac: macToString(mac), peer: e.peer, lastSeen: e.lastSeen }));
  }

  private touch(e: Entry): void {
    const now = this.now();
    if (now - e.lastSeen > this.maxAge / 10) e.lastSeen = now;
  }
}
