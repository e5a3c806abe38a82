// Wire forms of a peer name (Weave's "mac" flavour): 6 bytes big-endian in gob summaries
// (NameByte), a uint64 in gossip headers, and Go's net.HardwareAddr text in the Name feature.
// Parsing user input and generating names live in peer-name.ts.
import type { PeerName } from './contract.ts';

const CANONICAL = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
const NAME_MASK = (1n << 48n) - 1n;

/** Canonical lower-case text of a 48-bit value. */
export function peerNameFromUint64(value: bigint): PeerName {
  if (value < 0n || value > 0xffffffffffffffffn) throw new RangeError(`peer name ${value} is not a uint64`);
  // Go's intmac keeps the low 48 bits.
  const hex = (value & NAME_MASK).toString(16).padStart(12, '0');
  return hex.replace(/(..)(?!$)/g, '$1:');
}

export function peerNameToUint64(name: PeerName): bigint {
  return BigInt(`0x${canonicalHex(name)}`);
}

/** NameByte: the 6 name bytes, most significant first. */
export function peerNameToNameByte(name: PeerName): Buffer {
  return Buffer.from(canonicalHex(name), 'hex');
}

/** Go's macint: any number of bytes shifted in big-endian (placeholders and odd senders too). */
export function peerNameFromNameByte(bytes: Uint8Array): PeerName {
  if (bytes.length > 8) throw new RangeError(`NameByte of ${bytes.length} bytes is longer than a uint64`);
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return peerNameFromUint64(v);
}

/** The Name feature as Go's net.ParseMAC reads a 6-byte address: "aa:bb:cc:dd:ee:ff",
 *  "aa-bb-cc-dd-ee-ff" or "aabb.ccdd.eeff", any case. */
export function peerNameFromFeature(text: string): PeerName {
  const lower = text.toLowerCase();
  if (/^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/.test(lower) && new Set(lower.replace(/[0-9a-f]/g, '')).size === 1) {
    return lower.replaceAll('-', ':');
  }
  if (/^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/.test(lower)) {
    return lower.replaceAll('.', '').replace(/(..)(?!$)/g, '$1:');
  }
  throw new Error(`invalid peer name in features: ${JSON.stringify(text)}`);
}

function canonicalHex(name: PeerName): string {
  if (!CANONICAL.test(name)) throw new Error(`peer name ${JSON.stringify(name)} is not in canonical form`);
  return name.replaceAll(':', '');
}
