// JSON stand-ins for the wire layer's gob codecs, for router tests over in-memory connections.

import type { MeshCodecs } from '../../../../router/mesh/codecs.ts';
import type { GossipEnvelope, PeerSummary } from '../../../../router/mesh/contract.ts';

export const jsonCodecs: MeshCodecs = {
  envelope: {
    encode(tag: number, env: GossipEnvelope): Buffer {
      return Buffer.from(JSON.stringify({ tag, ...env, payload: env.payload.toString('base64') }));
    },
    decode(tag: number, payload: Buffer): GossipEnvelope {
      const o = JSON.parse(payload.toString()) as { tag: number; channel: string; source: string; destination?: string; payload: string };
      if (o.tag !== tag) throw new Error(`envelope for tag ${o.tag} under tag ${tag}`);
      const env: GossipEnvelope = { channel: o.channel, source: o.source, payload: Buffer.from(o.payload, 'base64') };
      if (o.destination !== undefined) env.destination = o.destination;
      return env;
    },
  },
  topology: {
    encode(peers: PeerSummary[]): Buffer {
      return Buffer.from(JSON.stringify(peers, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)));
    },
    decode(payload: Buffer): PeerSummary[] {
      return JSON.parse(payload.toString(), (_k, v: unknown) => (typeof v === 'string' && /^\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v)) as PeerSummary[];
    },
  },
};
