// One named gossip channel: how its owner's data leaves (to random neighbours, along unicast
// and broadcast routes) and how received messages reach the owner or get relayed.

import type { Logger } from '../../common/logger.ts';
import type { Clock } from './clock.ts';
import { Debouncer } from './clock.ts';
import type { GossipChannelSender, GossipData, GossipEnvelope, Gossiper, MeshConnection, PeerName } from './contract.ts';
import { ProtocolTag } from './contract.ts';
import type { GossipEnvelopeCodec } from './codecs.ts';

/** What a channel needs from the router. */
export interface GossipTransport {
  readonly ourName: PeerName;
  readonly codec: GossipEnvelopeCodec;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Our live connection to a neighbour. */
  connectionTo(name: PeerName): MeshConnection | undefined;
  /** Next hop over any connections (gossip does not wait for the data plane). */
  unicastAll(dst: PeerName): PeerName | undefined;
  broadcastAll(source: PeerName): PeerName[];
  randomNeighbours(except?: PeerName): PeerName[];
}

export const NEIGHBOUR_GOSSIP_DELAY_MS = 1000;

/** Gossip traffic of one router (all channels, tags 4/5/6, encoded message bytes without the
 *  TCP framing): what the mesh bench divides by topology changes. */
export interface GossipStats {
  sentMessages: number;
  sentBytes: number;
  receivedMessages: number;
  receivedBytes: number;
}

export function newGossipStats(): GossipStats {
  return { sentMessages: 0, sentBytes: 0, receivedMessages: 0, receivedBytes: 0 };
}

export class GossipChannel implements GossipChannelSender {
  private pending: GossipData | undefined;
  private readonly flusher: Debouncer;

  constructor(
    readonly name: string,
    readonly gossiper: Gossiper,
    private readonly transport: GossipTransport,
    coalesceMs = NEIGHBOUR_GOSSIP_DELAY_MS,
    private readonly stats: GossipStats = newGossipStats(),
  ) {
    this.flusher = new Debouncer(transport.clock, coalesceMs, () => this.flush());
  }

  stop(): void {
    this.flusher.cancel();
    this.pending = undefined;
  }

  gossipUnicast(destination: PeerName, message: Buffer): void {
    this.relayUnicast({ channel: this.name, source: this.transport.ourName, destination, payload: message });
  }

  gossipBroadcast(update: GossipData): void {
    this.relayBroadcast(this.transport.ourName, update);
  }

  /** Coalesced: everything handed in within the delay goes out merged, once. */
  gossipNeighbourSubset(update: GossipData): void {
    this.pending = this.pending ? this.pending.merge(update) : update;
    this.flusher.arm();
  }

  /** Send out anything coalescing now (tests, shutdown). */
  flush(): void {
    this.flusher.cancel();
    const data = this.pending;
    this.pending = undefined;
    if (data) this.relay(undefined, data);
  }

  /** Periodic full gossip. */
  gossipFull(): void {
    const data = this.gossiper.gossip();
    if (data) this.relay(undefined, data);
  }

  /** Full state to one (new) neighbour. */
  sendDown(conn: MeshConnection): void {
    const data = this.gossiper.gossip();
    if (data) this.sendTo(conn, ProtocolTag.Gossip, data);
  }

  /** Tag 4 from neighbour `from`: merge; pass the improvement on to other neighbours. Errors
   *  from the gossiper propagate (the router tears the connection down with them). */
  receiveGossip(from: PeerName, env: GossipEnvelope): void {
    const improved = this.gossiper.onGossip(env.payload);
    if (improved) this.relay(from, improved);
  }

  receiveUnicast(env: GossipEnvelope): void {
    if (env.destination === this.transport.ourName) {
      this.gossiper.onGossipUnicast(env.source, env.payload);
      return;
    }
    this.relayUnicast(env);
  }

  receiveBroadcast(env: GossipEnvelope): void {
    const data = this.gossiper.onGossipBroadcast(env.source, env.payload);
    if (data) this.relayBroadcast(env.source, data);
  }

  private relay(except: PeerName | undefined, data: GossipData): void {
    for (const name of this.transport.randomNeighbours(except)) {
      const conn = this.transport.connectionTo(name);
      if (conn) this.sendTo(conn, ProtocolTag.Gossip, data);
    }
  }

  private relayUnicast(env: GossipEnvelope): void {
    const dst = env.destination;
    const hop = dst === undefined ? undefined : this.transport.unicastAll(dst);
    const conn = hop === undefined ? undefined : this.transport.connectionTo(hop);
    if (!conn) {
      this.transport.logger.debug('gossip unicast: no route', { channel: this.name, destination: dst });
      return;
    }
    this.send(conn, ProtocolTag.GossipUnicast, env);
  }

  private relayBroadcast(source: PeerName, data: GossipData): void {
    const hops = this.transport.broadcastAll(source);
    if (hops.length === 0) return;
    const payloads = data.encode();
    for (const name of hops) {
      const conn = this.transport.connectionTo(name);
      if (!conn) continue;
      for (const payload of payloads) this.send(conn, ProtocolTag.GossipBroadcast, { channel: this.name, source, payload });
    }
  }

  private sendTo(conn: MeshConnection, tag: number, data: GossipData): void {
    for (const payload of data.encode()) this.send(conn, tag, { channel: this.name, source: this.transport.ourName, payload });
  }

  private send(conn: MeshConnection, tag: number, env: GossipEnvelope): void {
    try {
      const msg = this.transport.codec.encode(tag, env);
      this.stats.sentMessages++;
      this.stats.sentBytes += msg.length;
      conn.send(tag, msg);
    } catch (err) {
      // A connection that is closing: its close handler cleans up.
      this.transport.logger.debug('gossip send failed', { channel: this.name, peer: conn.remote.name, error: String(err) });
    }
  }
}
