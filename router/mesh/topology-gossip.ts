// The built-in `topology` gossip channel: peer summaries merged into the peer table.

import type { GossipData, Gossiper, PeerName } from './contract.ts';
import type { TopologyCodec } from './codecs.ts';
import type { ApplyUpdateResult, Peers } from './peers.ts';

export const TOPOLOGY_CHANNEL = 'topology';

/** A set of peer names; encoded from the table's state at send time, so merged (coalesced)
 *  updates always carry the latest versions. */
export class TopologyGossipData implements GossipData {
  constructor(
    private readonly peers: Peers,
    private readonly codec: TopologyCodec,
    readonly names: ReadonlySet<PeerName>,
  ) {}

  encode(): Buffer[] {
    return [this.codec.encode(this.peers.encode(this.names))];
  }

  merge(other: GossipData): GossipData {
    if (!(other instanceof TopologyGossipData)) throw new Error('cannot merge non-topology gossip into topology gossip');
    return new TopologyGossipData(this.peers, this.codec, new Set([...this.names, ...other.names]));
  }
}

export class TopologyGossiper implements Gossiper {
  constructor(
    private readonly peers: Peers,
    private readonly codec: TopologyCodec,
    /** Something in the table changed: recalculate routes, refresh the connection maker. */
    private readonly onChanged: (result: ApplyUpdateResult) => void,
  ) {}

  data(names: Iterable<PeerName>): TopologyGossipData {
    return new TopologyGossipData(this.peers, this.codec, new Set(names));
  }

  gossip(): GossipData {
    return this.data(this.peers.names());
  }

  onGossip(update: Buffer): GossipData | undefined {
    const result = this.apply(update);
    return result.improved.size > 0 ? this.data(result.improved) : undefined;
  }

  onGossipBroadcast(_source: PeerName, update: Buffer): GossipData | undefined {
    const result = this.apply(update);
    return result.received.size > 0 ? this.data(result.received) : undefined;
  }

  onGossipUnicast(source: PeerName): void {
    throw new Error(`unexpected topology gossip unicast from ${source}`);
  }

  private apply(update: Buffer): ApplyUpdateResult {
    const result = this.peers.applyUpdate(this.codec.decode(update));
    if (result.improved.size > 0) this.onChanged(result);
    return result;
  }
}
