// A simulated mesh for IPAM tests: every peer reaches every other directly; messages are
// delivered asynchronously (like the real router) and may be dropped or blocked per link.
// Handler errors are recorded instead of tearing a connection down.

import type { GossipChannelSender, GossipData, Gossiper, PeerName } from '../../../router/mesh/contract.ts';
import type { IpamMesh } from '../../../ipam/ipam-mesh.ts';

export class SimNetwork {
  private readonly gossipers = new Map<PeerName, Gossiper>();
  private readonly nicks = new Map<PeerName, string>();
  readonly down = new Set<PeerName>();
  lossRate = 0;
  readonly errors: { at: PeerName; from: PeerName; error: string }[] = [];
  private uid = 1n;

  constructor(private readonly random: () => number = Math.random) {}

  mesh(name: PeerName, nickname: string): IpamMesh {
    this.nicks.set(name, nickname);
    this.down.delete(name);
    const uid = this.uid++;
    const sender = (from: PeerName): GossipChannelSender => ({
      gossipUnicast: (dst, msg) => this.deliver(from, dst, (g) => g.onGossipUnicast(from, msg)),
      gossipBroadcast: (data) => this.broadcast(from, data),
      gossipNeighbourSubset: (data) => this.broadcast(from, data),
    });
    return {
      ourName: name,
      ourUid: uid,
      ourNickname: nickname,
      newGossip: (_channel: string, gossiper: Gossiper) => {
        this.gossipers.set(name, gossiper);
        // a new peer learns the state of everyone it connects to, as on a real connection
        for (const [other, g] of this.gossipers) {
          if (other === name) continue;
          const mine = gossiper.gossip();
          const theirs = g.gossip();
          if (theirs) for (const b of theirs.encode()) this.deliver(other, name, (x) => x.onGossip(b));
          if (mine) for (const b of mine.encode()) this.deliver(name, other, (x) => x.onGossip(b));
        }
        return sender(name);
      },
      knownPeers: () => [...this.gossipers.keys()].filter((p) => !this.down.has(p)).map((p) => ({ name: p, nickname: this.nicks.get(p) ?? '' })),
      reachable: (peer) => this.gossipers.has(peer) && !this.down.has(peer),
    };
  }

  /** Take a peer off the network for good. */
  kill(name: PeerName): void {
    this.down.add(name);
    this.gossipers.delete(name);
  }

  /** Periodic full gossip from everyone (the router's 30 s timer). */
  gossipAll(): void {
    for (const [name, g] of this.gossipers) {
      const d = g.gossip();
      if (!d) continue;
      for (const other of this.gossipers.keys()) if (other !== name) for (const b of d.encode()) this.deliver(name, other, (x) => x.onGossip(b));
    }
  }

  private broadcast(from: PeerName, data: GossipData): void {
    const bufs = data.encode();
    for (const other of this.gossipers.keys()) {
      if (other === from) continue;
      for (const b of bufs) this.deliver(from, other, (g) => g.onGossipBroadcast(from, b));
    }
  }

  private deliver(from: PeerName, to: PeerName, fn: (g: Gossiper) => void): void {
    if (this.down.has(from) || this.down.has(to)) return;
    if (this.lossRate > 0 && this.random() < this.lossRate) return;
    setImmediate(() => {
      const g = this.gossipers.get(to);
      if (!g || this.down.has(to)) return;
      try {
        fn(g);
      } catch (err) {
        this.errors.push({ at: to, from, error: err instanceof Error ? err.message : String(err) });
      }
    });
  }
}
