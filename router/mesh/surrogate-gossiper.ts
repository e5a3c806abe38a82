// Stand-in for channels we have no owner for (e.g. a peer runs a service we do not): we still
// pass their gossip on, so the mesh works through us.

import { createHash } from 'node:crypto';
import type { Clock } from './clock.ts';
import type { GossipData, Gossiper, PeerName } from './contract.ts';

/** Plain gossip has no "is this new?" answer for opaque data; remembering recent payloads
 *  keeps it from circulating forever. */
export const SURROGATE_MEMORY_MS = 60_000;

export class SurrogateGossipData implements GossipData {
  constructor(readonly messages: Buffer[]) {}

  encode(): Buffer[] {
    return this.messages;
  }

  merge(other: GossipData): GossipData {
    return new SurrogateGossipData([...this.messages, ...other.encode()]);
  }
}

export class SurrogateGossiper implements Gossiper {
  private readonly seen = new Map<string, number>();

  constructor(private readonly clock: Clock) {}

  gossip(): GossipData | undefined {
    return undefined;
  }

  onGossip(update: Buffer): GossipData | undefined {
    const now = this.clock.now();
    for (const [hash, at] of this.seen) if (now - at > SURROGATE_MEMORY_MS) this.seen.delete(hash);
    const hash = createHash('sha256').update(update).digest('base64');
    if (this.seen.has(hash)) return undefined;
    this.seen.set(hash, now);
    return new SurrogateGossipData([update]);
  }

  onGossipBroadcast(_source: PeerName, update: Buffer): GossipData | undefined {
    return new SurrogateGossipData([update]);
  }

  /** A unicast to us on a channel we do not run has no reader; dropping it must not cost the
   *  connection it arrived on. */
  onGossipUnicast(_source: PeerName, _message: Buffer): void {}
}
