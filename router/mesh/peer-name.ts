// Peer identity: the 48-bit peer name (shown as a MAC), the per-start UID and the 12-bit short ID.

import { createHash, randomBytes as cryptoRandomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readJson, writeJsonAtomic } from '../../common/atomic-file.ts';
import type { PeerName } from './contract.ts';

/** Name 0 means "unknown" on the wire (e.g. the source of a relayed frame not yet learnt). */
export const UNKNOWN_PEER_NAME: PeerName = '00:00:00:00:00:00';
export const SHORT_ID_BITS = 12;

/** Weave salts the system identity so other tools hashing the same files get different MACs. */
const SYSTEM_ID_SALT = '9oBJ0Jmip-';
const PEER_FILE = 'peer.json';

export type RandomBytes = (n: number) => Buffer;

/** Parse a user-given name: six 1–2 digit hex groups separated by ':'; one '::' may stand for
 *  one or more zero groups (as Weave's Sscanf patterns allow). Returns the canonical form. */
export function parsePeerName(input: string): PeerName {
  const text = input.trim();
  const fail = (): never => {
    throw new Error(`invalid peer name: ${JSON.stringify(input)}`);
  };
  const parseGroups = (part: string): number[] => {
    if (part === '') return [];
    return part.split(':').map((g) => {
      if (!/^[0-9a-fA-F]{1,2}$/.test(g)) fail();
      return parseInt(g, 16);
    });
  };
  let groups: number[];
  const halves = text.split('::');
  if (halves.length > 2) fail();
  if (halves.length === 2) {
    const left = parseGroups(halves[0] ?? '');
    const right = parseGroups(halves[1] ?? '');
    const missing = 6 - left.length - right.length;
    if (missing < 1) fail();
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    groups = parseGroups(text);
    if (groups.length !== 6) fail();
  }
  return formatPeerName(Buffer.from(groups));
}

export function isPeerName(input: string): boolean {
  return /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(input);
}

export function formatPeerName(bytes: Uint8Array): PeerName {
  if (bytes.length !== 6) throw new Error(`peer name needs 6 bytes, got ${bytes.length}`);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function peerNameToBytes(name: PeerName): Buffer {
  return Buffer.from(parsePeerName(name).replaceAll(':', ''), 'hex');
}

export function peerNameToBigInt(name: PeerName): bigint {
  return BigInt('0x' + parsePeerName(name).replaceAll(':', ''));
}

export function peerNameFromBigInt(value: bigint): PeerName {
  if (value < 0n || value >= 1n << 48n) throw new Error(`peer name out of range: ${value}`);
  return formatPeerName(Buffer.from(value.toString(16).padStart(12, '0'), 'hex'));
}

/** Unicast (multicast bit clear) and locally administered, so the name is usable as a MAC. */
function unicastAndLocal(bytes: Buffer): Buffer {
  bytes[0] = ((bytes[0] ?? 0) & 0xfe) | 0x02;
  return bytes;
}

/** Weave's derivation: SHA-256(salt ‖ machine-id ‖ product_uuid), first 6 bytes. */
export function peerNameFromSystemId(systemId: Uint8Array): PeerName {
  const sum = createHash('sha256').update(SYSTEM_ID_SALT).update(systemId).digest();
  return formatPeerName(unicastAndLocal(sum.subarray(0, 6)));
}

export function randomPeerName(randomBytes: RandomBytes = cryptoRandomBytes): PeerName {
  return formatPeerName(unicastAndLocal(Buffer.from(randomBytes(6))));
}

export type FileReader = (path: string) => Promise<Buffer>;

async function readOptional(read: FileReader, path: string): Promise<Buffer | undefined> {
  try {
    return await read(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** machine-id (systemd, else dbus) followed by the DMI product UUID (else the hypervisor UUID),
 *  raw bytes including trailing newlines, as Weave concatenates them. Undefined when both are
 *  missing or empty. A product_uuid readable only by root (EACCES) counts as missing. */
export async function readSystemId(hostRoot = '', read: FileReader = readFile): Promise<Buffer | undefined> {
  const tolerant = async (path: string): Promise<Buffer | undefined> => {
    try {
      return await readOptional(read, hostRoot + path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') return undefined;
      throw err;
    }
  };
  const machineId = (await tolerant('/etc/machine-id')) ?? (await tolerant('/var/lib/dbus/machine-id'));
  const productUuid = (await tolerant('/sys/class/dmi/id/product_uuid')) ?? (await tolerant('/sys/hypervisor/uuid'));
  const id = Buffer.concat([machineId ?? Buffer.alloc(0), productUuid ?? Buffer.alloc(0)]);
  return id.length > 0 ? id : undefined;
}

export type PeerNameSource = 'explicit' | 'persisted' | 'system' | 'random';

export interface ResolvePeerNameOptions {
  dataDir: string;
  /** `--name`: wins over everything and is not persisted. */
  explicit?: string;
  hostRoot?: string;
  readFile?: FileReader;
  randomBytes?: RandomBytes;
}

/** Our peer name: explicit, else the one persisted in `<dataDir>/peer.json`, else derived from
 *  the system identity, else random; a derived or random name is persisted so that a restart
 *  (even on a host whose identity files changed) keeps it. */
export async function resolvePeerName(opts: ResolvePeerNameOptions): Promise<{ name: PeerName; source: PeerNameSource }> {
  if (opts.explicit !== undefined) return { name: parsePeerName(opts.explicit), source: 'explicit' };
  const file = join(opts.dataDir, PEER_FILE);
  const stored = await readJson(file);
  if (stored !== undefined) {
    const name = (stored as { name?: unknown }).name;
    if (typeof name !== 'string') throw new Error(`${file}: no peer name in it`);
    return { name: parsePeerName(name), source: 'persisted' };
  }
  const systemId = await readSystemId(opts.hostRoot ?? '', opts.readFile ?? readFile);
  const result = systemId
    ? { name: peerNameFromSystemId(systemId), source: 'system' as const }
    : { name: randomPeerName(opts.randomBytes), source: 'random' as const };
  await writeJsonAtomic(file, { name: result.name });
  return result;
}

/** Random non-zero 64-bit UID (zero means "unknown peer" in placeholders). */
export function randomUid(randomBytes: RandomBytes = cryptoRandomBytes): bigint {
  for (;;) {
    const uid = Buffer.from(randomBytes(8)).readBigUInt64BE(0);
    if (uid !== 0n) return uid;
  }
}

export function randomShortId(random: () => number = Math.random): number {
  return Math.floor(random() * (1 << SHORT_ID_BITS));
}

/** "name(nickname)" as Weave prints peers. */
export function describePeer(name: PeerName, nickname: string): string {
  return `${name}(${nickname})`;
}
