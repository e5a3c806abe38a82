// The byte formats the router layer needs from the wire layer, as injectable interfaces: the
// router runs on the real gob codecs in production and on simple stand-ins in unit tests.

import type { GossipEnvelope, PeerSummary } from './contract.ts';

/** Payloads of tags 4/5/6: channel, source, [destination], payload. */
export interface GossipEnvelopeCodec {
  encode(tag: number, env: GossipEnvelope): Buffer;
  decode(tag: number, payload: Buffer): GossipEnvelope;
}

/** The `topology` channel's payload: peer summaries with their connections. */
export interface TopologyCodec {
  encode(peers: PeerSummary[]): Buffer;
  decode(payload: Buffer): PeerSummary[];
}

export interface MeshCodecs {
  envelope: GossipEnvelopeCodec;
  topology: TopologyCodec;
}
