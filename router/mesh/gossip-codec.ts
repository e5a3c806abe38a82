// Payload of the gossip tags (Weave's gossip_channel.go): consecutive top-level gob values from
// one encoder — channel name, source peer name (uint64), for unicast the destination, then the
// channel's opaque payload as []byte. All are gob basic types, so no type definitions travel.
import { gob, GobDecoder, GobEncoder } from '../gob/index.ts';
import type { GossipEnvelope } from './contract.ts';
import { ProtocolTag } from './contract.ts';
import { peerNameFromUint64, peerNameToUint64 } from './peer-name-wire.ts';

function checkTag(tag: number): void {
  if (tag !== ProtocolTag.Gossip && tag !== ProtocolTag.GossipUnicast && tag !== ProtocolTag.GossipBroadcast) {
    throw new Error(`tag ${tag} is not a gossip message`);
  }
}

export function encodeGossipEnvelope(tag: number, env: GossipEnvelope): Buffer {
  checkTag(tag);
  const enc = new GobEncoder();
  const parts = [enc.encode(gob.string, env.channel), enc.encode(gob.uint64, peerNameToUint64(env.source))];
  if (tag === ProtocolTag.GossipUnicast) {
    if (env.destination === undefined) throw new Error('a unicast gossip message needs a destination');
    parts.push(enc.encode(gob.uint64, peerNameToUint64(env.destination)));
  }
  parts.push(enc.encode(gob.bytes, env.payload));
  return Buffer.concat(parts);
}

export function decodeGossipEnvelope(tag: number, payload: Buffer): GossipEnvelope {
  checkTag(tag);
  const dec = new GobDecoder();
  dec.push(payload);
  const channel = dec.decode(gob.string);
  const source = peerNameFromUint64(dec.decode(gob.uint64));
  const env: GossipEnvelope = { channel, source, payload: Buffer.alloc(0) };
  if (tag === ProtocolTag.GossipUnicast) env.destination = peerNameFromUint64(dec.decode(gob.uint64));
  env.payload = dec.decode(gob.bytes);
  return env;
}

/** The router layer's GossipEnvelopeCodec (codecs.ts), backed by gob. */
export const gossipEnvelopeCodec = {
  encode: encodeGossipEnvelope,
  decode: decodeGossipEnvelope,
};
