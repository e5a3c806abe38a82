// The `nameserver` gossip channel's payload: one self-contained gob stream of Weave Net's
// nameserver.GossipData, exactly as Weave 2.8 encodes it (nameserver/entry.go):
//   type Entry struct { ContainerID string; Origin mesh.PeerName; Addr address.Address;
//                       Hostname string; lHostname string /* unexported: not sent */;
//                       Version int; Tombstone int64 }
//   type Entries []Entry
//   type GossipData struct { Timestamp int64; Entries /* embedded: field "Entries" */ }
// gob matches struct fields by name, and Go names the wire types after the Go types, so the
// names below are Weave's. Entries are sent sorted case-sensitively, as Weave's Encode does.

import { GobDecoder, GobError, gob, gobEncode } from '../router/gob/index.ts';
import { peerNameFromBigInt, peerNameToBigInt } from '../router/mesh/peer-name.ts';
import { compareCaseSensitive, type Entry } from './entry.ts';

export const NAMESERVER_CHANNEL = 'nameserver';

const entryType = gob.struct('Entry', {
  ContainerID: gob.string,
  Origin: gob.uint64, // mesh.PeerName (uint64)
  Addr: gob.uint, // address.Address (uint32)
  Hostname: gob.string,
  Version: gob.int,
  Tombstone: gob.int64,
});
export const gossipDataType = gob.struct('GossipData', {
  Timestamp: gob.int64,
  Entries: gob.slice(entryType, 'Entries'),
});

export interface NameserverGossipPayload {
  /** Sender's clock, unix seconds. */
  timestamp: number;
  entries: Entry[];
}

/** Refused payloads: the message says what was wrong. */
export class NameserverGossipError extends Error {
  override name = 'NameserverGossipError';
}

/** Gossip payloads larger than this are refused before decoding (Weave's whole table of tens of
 *  thousands of names stays well below it). */
export const MAX_GOSSIP_BYTES = 16 * 1024 * 1024;

export function encodeNameserverGossip(g: NameserverGossipPayload): Buffer {
  const entries = [...g.entries].sort(compareCaseSensitive).map((e) => ({
    ContainerID: e.containerId,
    Origin: peerNameToBigInt(e.origin),
    Addr: e.addr,
    Hostname: e.hostname,
    Version: e.version,
    Tombstone: BigInt(e.tombstone),
  }));
  return gobEncode(gossipDataType, { Timestamp: BigInt(g.timestamp), Entries: entries });
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function seconds(v: bigint, what: string): number {
  if (v < 0n || v > MAX_SAFE) throw new NameserverGossipError(`${what} ${v} out of range`);
  return Number(v);
}

/** Decodes and validates one payload; throws NameserverGossipError on anything malformed. */
export function decodeNameserverGossip(buf: Uint8Array): NameserverGossipPayload {
  if (buf.length === 0) throw new NameserverGossipError('empty nameserver gossip');
  if (buf.length > MAX_GOSSIP_BYTES) throw new NameserverGossipError(`nameserver gossip of ${buf.length} bytes exceeds ${MAX_GOSSIP_BYTES}`);
  let v;
  try {
    const dec = new GobDecoder({ maxMessageBytes: MAX_GOSSIP_BYTES });
    dec.push(buf);
    v = dec.decode(gossipDataType);
    if (!dec.atEnd) throw new GobError('trailing bytes after GossipData');
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new NameserverGossipError(`malformed nameserver gossip: ${why}`);
  }
  const timestamp = seconds(v.Timestamp, 'Timestamp');
  const entries = v.Entries.map((w, i): Entry => {
    const at = `entry ${i}`;
    if (w.Origin >= 1n << 48n) throw new NameserverGossipError(`${at}: Origin ${w.Origin} is not a 48-bit peer name`);
    if (!Number.isInteger(w.Addr) || w.Addr < 0 || w.Addr > 0xffffffff) throw new NameserverGossipError(`${at}: Addr ${w.Addr} is not an IPv4 address`);
    if (w.Hostname === '') throw new NameserverGossipError(`${at}: empty Hostname`);
    if (w.Version < 0) throw new NameserverGossipError(`${at}: negative Version ${w.Version}`);
    return {
      hostname: w.Hostname,
      origin: peerNameFromBigInt(w.Origin),
      containerId: w.ContainerID,
      addr: w.Addr,
      version: w.Version,
      tombstone: seconds(w.Tombstone, `${at}: Tombstone`),
    };
  });
  return { timestamp, entries };
}
