// Inputs for the mesh port (TCP 6783): what arrives on a fresh connection — random bytes, the
// protocol header followed by junk, a features message that lies about its length or is junk
// gob, a valid introduction from an unknown peer followed by junk frames, and slow writers.
// Never the name of a real peer: impersonation without a password is Weave's design, not a bug.
import { encodeFeatures } from '../../../router/mesh/features.ts';
import { encodeHeader } from '../../../router/mesh/handshake.ts';
import type { Rng } from './rng.ts';

export interface TcpInput {
  chunks: Buffer[];
  /** Pause between chunks, ms. */
  gapMs: number;
  /** Keep the connection open (not writing) this long after the last chunk before closing. */
  holdMs: number;
  /** Close with a FIN after writing and wait for the daemon to close (a half-open connection). */
  halfClose: boolean;
  what: string;
}

function lengthPrefix(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function fakeName(r: Rng): string {
  // locally administered, never one of the lab's (derived from machine ids)
  return ['fe', ...Array.from({ length: 5 }, () => r.int(256).toString(16).padStart(2, '0'))].join(':');
}

function features(r: Rng): Record<string, string> {
  const f: Record<string, string> = {
    PeerNameFlavour: 'mac',
    Name: fakeName(r),
    NickName: `fuzz${r.int(1000)}`,
    ShortID: String(r.int(4096)),
    UID: String(r.int(2 ** 31)),
    ConnID: String(r.int(2 ** 31)),
  };
  switch (r.int(6)) {
    case 0: delete f[r.pick(Object.keys(f))]; break;
    case 1: f[r.pick(Object.keys(f))] = r.string(r.range(0, 30)); break;
    case 2: f['ShortID'] = r.pick(['-1', '99999999', '4096', '']); break;
    case 3: f['PeerNameFlavour'] = r.pick(['uuid', '', 'mac ']); break;
    case 4: f['Name'] = r.pick(['00:00:00:00:00:00', 'zz:zz:zz:zz:zz:zz', '', 'fe:00:00:00:00']); break;
    default: break;
  }
  return f;
}

export function tcpInput(r: Rng): TcpInput {
  const header = encodeHeader(r.bool(0.9) ? 1 : r.int(256), r.bool(0.9) ? 2 : r.int(256));
  const plain = Buffer.from([0]);
  const kind = r.weighted<string>([[20, 'bytes'], [20, 'header+junk'], [15, 'huge-length'], [15, 'bad-features'], [10, 'intro+junk'], [2, 'slow'], [3, 'half-open']]);
  const base = { gapMs: 0, holdMs: 0, halfClose: false };
  switch (kind) {
    case 'bytes':
      return { ...base, chunks: [r.bytes(r.range(1, 3000))], halfClose: r.bool(), what: 'random bytes' };
    case 'header+junk':
      return { ...base, chunks: [header, r.bytes(r.range(0, 500))], halfClose: r.bool(), what: 'protocol header, then junk' };
    case 'huge-length': {
      const n = r.pick([0xffffffff, 10 * 1024 * 1024 + 1, 10 * 1024 * 1024, 0x80000000, r.range(1000, 5_000_000)]);
      return { ...base, chunks: [header, plain, lengthPrefix(n), r.bytes(r.range(0, 2000))], holdMs: r.pick([0, 0, 200]), what: `length prefix ${n}` };
    }
    case 'bad-features': {
      const gob = encodeFeatures(features(r));
      const body = r.bool(0.5) ? gob : Buffer.concat([gob.subarray(0, r.int(gob.length)), r.bytes(r.range(0, 40))]);
      return { ...base, chunks: [header, plain, lengthPrefix(body.length), body], halfClose: r.bool(), holdMs: r.pick([0, 100]), what: 'features message, mangled' };
    }
    case 'intro+junk': {
      const gob = encodeFeatures(features(r));
      const frames = Array.from({ length: r.range(1, 4) }, () => {
        const b = r.bytes(r.range(0, 300));
        return Buffer.concat([lengthPrefix(r.bool(0.8) ? b.length : r.int(0xffffffff)), b]);
      });
      return { ...base, chunks: [header, plain, lengthPrefix(gob.length), gob, ...frames], gapMs: 5, holdMs: 100, what: 'introduction from an unknown peer, then junk frames' };
    }
    case 'slow': {
      const all = Buffer.concat([header, plain, r.bytes(r.range(5, 40))]);
      return { ...base, chunks: [...all].map((x) => Buffer.from([x])), gapMs: r.range(20, 80), what: 'one byte at a time' };
    }
    default:
      return { ...base, chunks: r.bool() ? [] : [header], holdMs: r.range(300, 1500), halfClose: r.bool(), what: 'half-open, silent' };
  }
}
