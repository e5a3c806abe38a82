// The `topology` gossip payload (Weave's peers.go encodePeers/decodePeer): one fresh gob
// encoder per message, and for each peer two values — its peerSummary struct, then a
// []connectionSummary. Field names must be Go's exactly: gob matches them by name.
import { gob, GobDecoder, GobEncoder, GobError } from '../gob/index.ts';
import type { GobValue } from '../gob/index.ts';
import type { PeerSummary } from './contract.ts';
import { peerNameFromNameByte, peerNameToNameByte } from './peer-name-wire.ts';

export const peerSummaryType = gob.struct('peerSummary', {
  NameByte: gob.bytes,
  NickName: gob.string,
  UID: gob.uint64,
  Version: gob.uint64,
  ShortID: gob.uint,
  HasShortID: gob.bool,
});

export const connectionSummaryType = gob.struct('connectionSummary', {
  NameByte: gob.bytes,
  RemoteTCPAddr: gob.string,
  Outbound: gob.bool,
  Established: gob.bool,
});

export const connectionSummariesType = gob.slice(connectionSummaryType);

export function encodeTopology(peers: readonly PeerSummary[]): Buffer {
  const enc = new GobEncoder();
  const parts: Buffer[] = [];
  for (const p of peers) {
    parts.push(
      enc.encode(peerSummaryType, {
        NameByte: peerNameToNameByte(p.name),
        NickName: p.nickname,
        UID: p.uid,
        Version: p.version,
        ShortID: p.shortId,
        HasShortID: p.hasShortId,
      }),
    );
    parts.push(
      enc.encode(
        connectionSummariesType,
        p.connections.map((c) => ({
          NameByte: peerNameToNameByte(c.name),
          RemoteTCPAddr: c.remoteTcpAddr,
          Outbound: c.outbound,
          Established: c.established,
        })),
      ),
    );
  }
  return Buffer.concat(parts);
}

function toPeerSummary(s: GobValue<typeof peerSummaryType>, conns: GobValue<typeof connectionSummariesType>): PeerSummary {
  if (s.Version > BigInt(Number.MAX_SAFE_INTEGER)) throw new GobError(`peer version ${s.Version} exceeds 2^53`);
  if (s.ShortID > 0xffff) throw new GobError(`short ID ${s.ShortID} exceeds uint16`);
  return {
    name: peerNameFromNameByte(s.NameByte),
    nickname: s.NickName,
    uid: s.UID,
    version: Number(s.Version),
    shortId: s.ShortID,
    hasShortId: s.HasShortID,
    connections: conns.map((c) => ({
      name: peerNameFromNameByte(c.NameByte),
      remoteTcpAddr: c.RemoteTCPAddr,
      outbound: c.Outbound,
      established: c.Established,
    })),
  };
}

export function decodeTopology(payload: Buffer): PeerSummary[] {
  const dec = new GobDecoder();
  dec.push(payload);
  const out: PeerSummary[] = [];
  while (!dec.atEnd) {
    const summary = dec.decode(peerSummaryType);
    const conns = dec.decode(connectionSummariesType);
    out.push(toPeerSummary(summary, conns));
  }
  return out;
}

/** The router layer's TopologyCodec (codecs.ts), backed by gob. */
export const topologyCodec = {
  encode: encodeTopology,
  decode: decodeTopology,
};
