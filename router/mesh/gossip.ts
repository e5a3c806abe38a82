// All gossip channels of a router: registration by name, dispatch of tags 4/5/6, the periodic
// full gossip and the full state sent to each new neighbour.

import type { GossipChannelSender, Gossiper, MeshConnection } from './contract.ts';
import { ProtocolTag } from './contract.ts';
import type { TimerHandle } from './clock.ts';
import { GossipChannel, NEIGHBOUR_GOSSIP_DELAY_MS, newGossipStats } from './gossip-channel.ts';
import type { GossipStats, GossipTransport } from './gossip-channel.ts';
import { SurrogateGossiper } from './surrogate-gossiper.ts';

export const GOSSIP_INTERVAL_MS = 30_000;
/** Channels of services we do not run but relay: a handful in any real mesh. Every name a
 *  neighbour sends would otherwise stay for the life of the process, so the least recently
 *  used one goes when a new one would pass this. */
export const MAX_SURROGATE_CHANNELS = 64;
/** No service has a longer name; gossip on such a channel is dropped instead of kept. */
export const MAX_SURROGATE_NAME = 128;

export interface GossipOptions {
  intervalMs?: number;
  coalesceMs?: number;
}

export class Gossip {
  /** Every channel's traffic, counted where messages are encoded and decoded. */
  readonly stats: GossipStats = newGossipStats();
  private readonly channels = new Map<string, GossipChannel>();
  /** Names of the surrogate channels, least recently used first. */
  private readonly surrogates = new Set<string>();
  private timer: TimerHandle | undefined;
  private readonly intervalMs: number;
  private readonly coalesceMs: number;

  constructor(
    private readonly transport: GossipTransport,
    opts: GossipOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? GOSSIP_INTERVAL_MS;
    this.coalesceMs = opts.coalesceMs ?? NEIGHBOUR_GOSSIP_DELAY_MS;
  }

  /** Register the owner of a channel. A surrogate that stood in for it is replaced. */
  addChannel(name: string, gossiper: Gossiper): GossipChannelSender {
    const existing = this.channels.get(name);
    if (existing && !(existing.gossiper instanceof SurrogateGossiper)) throw new Error(`gossip channel ${name} already registered`);
    existing?.stop();
    this.surrogates.delete(name);
    const channel = new GossipChannel(name, gossiper, this.transport, this.coalesceMs, this.stats);
    this.channels.set(name, channel);
    return channel;
  }

  channel(name: string): GossipChannel | undefined {
    return this.channels.get(name);
  }

  channelNames(): string[] {
    return [...this.channels.keys()].sort();
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    if (this.timer !== undefined) this.transport.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const c of this.channels.values()) c.stop();
  }

  /** Every channel's full state to a new (or restarted) neighbour. */
  sendAllDown(conn: MeshConnection): void {
    for (const c of this.channels.values()) c.sendDown(conn);
  }

  gossipAll(): void {
    for (const c of this.channels.values()) c.gossipFull();
  }

  /** Tags 4/5/6 from a neighbour. Throws on undecodable messages and gossiper errors: the
   *  caller closes the connection with that error, as Weave does. */
  handle(conn: MeshConnection, tag: number, payload: Buffer): void {
    this.stats.receivedMessages++;
    this.stats.receivedBytes += payload.length;
    const env = this.transport.codec.decode(tag, payload);
    const owned = this.surrogates.has(env.channel) ? undefined : this.channels.get(env.channel);
    const channel = owned ?? this.surrogate(env.channel);
    if (channel === undefined) return;
    switch (tag) {
      case ProtocolTag.Gossip:
        channel.receiveGossip(conn.remote.name, env);
        break;
      case ProtocolTag.GossipUnicast:
        channel.receiveUnicast(env);
        break;
      case ProtocolTag.GossipBroadcast:
        channel.receiveBroadcast(env);
        break;
      default:
        throw new Error(`not a gossip tag: ${tag}`);
    }
  }

  /** The stand-in for a channel nobody here owns (made on first use, refreshed on each), or
   *  undefined when its name is too long to be a service's. */
  private surrogate(name: string): GossipChannel | undefined {
    const existing = this.channels.get(name);
    if (existing !== undefined) {
      this.surrogates.delete(name);
      this.surrogates.add(name);
      return existing;
    }
    if (name.length > MAX_SURROGATE_NAME) {
      this.transport.logger.debug('dropping gossip on a channel with an overlong name', { length: name.length });
      return undefined;
    }
    if (this.surrogates.size >= MAX_SURROGATE_CHANNELS) {
      const oldest = this.surrogates.values().next().value!;
      this.surrogates.delete(oldest);
      this.channels.get(oldest)?.stop();
      this.channels.delete(oldest);
      this.transport.logger.debug('forgetting the least recently used channel we only relay', { channel: oldest });
    }
    const channel = new GossipChannel(name, new SurrogateGossiper(this.transport.clock), this.transport, this.coalesceMs, this.stats);
    this.channels.set(name, channel);
    this.surrogates.add(name);
    return channel;
  }

  private schedule(): void {
    this.timer = this.transport.clock.setTimeout(() => {
      this.gossipAll();
      this.schedule();
    }, this.intervalMs);
  }
}
