// The sleeve offloads' frame surgery in the native addon (datapath/native/src/vnet-frames.cc),
// against an independent reference written here: TSO super-frames from the capture TAP cut into
// the frames the kernel itself would have made, partial checksums completed, and the reverse
// (runs of TCP segments written to the TAP as one super-frame). Needs the built addon (no root).
// The live paths (TAP with offloads, UDP GSO/GRO, a peer without them) are in sleeve.test.ts.
import { expect } from 'chai';
import crypto from 'node:crypto';
import { loadDataPlaneNative } from '../../datapath/native/index.ts';
import { PlainSealer } from '../../router/overlay/frame-crypto.ts';
import { FRAME_OVERHEAD, forEachFrame, writeFrame } from '../../router/overlay/sleeve-packet.ts';

const native = loadDataPlaneNative();

function csum(buf: Buffer, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2 === 1) sum += buf[buf.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function pseudo(ip: Buffer, proto: number, len: number): number {
  return csum(ip.subarray(12, 20)) + proto + len;
}

interface Tcp { seq: number; flags: number; payload: Buffer; id?: number }

const ETH = Buffer.from('02000000000202000000000108 00'.replace(/ /g, ''), 'hex');
const TCP_OPTIONS = Buffer.from('0101080a0001e2400000beef', 'hex'); // NOP NOP timestamps

/** A complete TCP/IPv4 frame, checksums filled in (the reference for every segment). */
function tcpFrame({ seq, flags, payload, id = 0x1234 }: Tcp): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 32 + payload.length, 2);
  ip.writeUInt16BE(id & 0xffff, 4);
  ip.writeUInt16BE(0x4000, 6); // DF
  ip[8] = 64;
  ip[9] = 6;
  Buffer.from([10, 32, 0, 1, 10, 32, 0, 2]).copy(ip, 12);
  ip.writeUInt16BE(~csum(ip) & 0xffff, 10);
  const tcp = Buffer.alloc(32);
  tcp.writeUInt16BE(40000, 0);
  tcp.writeUInt16BE(5201, 2);
  tcp.writeUInt32BE(seq >>> 0, 4);
  tcp.writeUInt32BE(0x01020304, 8);
  tcp[12] = 8 << 4;
  tcp[13] = flags;
  tcp.writeUInt16BE(502, 14);
  TCP_OPTIONS.copy(tcp, 20);
  const seg = Buffer.concat([tcp, payload]);
  seg.writeUInt16BE(~csum(seg, pseudo(ip, 6, seg.length)) & 0xffff, 16);
  return Buffer.concat([ETH, ip, seg]);
}

function vnetHdr(flags: number, gsoType: number, hdrLen: number, gsoSize: number, csumStart: number, csumOffset: number): Buffer {
  const h = Buffer.alloc(10);
  h[0] = flags;
  h[1] = gsoType;
  h.writeUInt16LE(hdrLen, 2);
  h.writeUInt16LE(gsoSize, 4);
  h.writeUInt16LE(csumStart, 6);
  h.writeUInt16LE(csumOffset, 8);
  return h;
}

/** What the kernel hands a TAP with TSO: the super-frame, TCP checksum left partial. */
function superFrame(t: Tcp, mss: number): Buffer {
  const f = tcpFrame(t);
  const ip = f.subarray(14, 34);
  f.writeUInt16BE(csum(Buffer.alloc(0), pseudo(ip, 6, f.length - 34)), 34 + 16);
  return Buffer.concat([vnetHdr(1, 1, 14 + 20 + 32, mss, 34, 16), f]);
}

function segment(input: Buffer): Buffer[] {
  const out = Buffer.alloc(input.length + 64 * 100);
  const meta = new Uint32Array(2 * 100);
  const n = native.segmentVnetFrame(input, out, meta);
  return Array.from({ length: n }, (_, i) => Buffer.from(out.subarray(meta[2 * i]!, meta[2 * i]! + meta[2 * i + 1]!)));
}

/** The segments the kernel's own TSO makes (ids counting up, FIN/PSH last, CWR first). */
function expectedSegments(t: Tcp, mss: number): Buffer[] {
  const out: Buffer[] = [];
  for (let done = 0, i = 0; done < t.payload.length; done += mss, i++) {
    const last = done + mss >= t.payload.length;
    let flags = t.flags;
    if (!last) flags &= ~0x09;
    if (i > 0) flags &= ~0x80;
    out.push(tcpFrame({ seq: (t.seq + done) >>> 0, flags, payload: t.payload.subarray(done, done + mss), id: (t.id ?? 0x1234) + i }));
  }
  return out;
}

describe('sleeve offloads: frames from and to a TAP with vnet headers (native)', function () {
  const mss = 1336;

  for (const [what, size] of [
    ['three full segments and a short last one', 3 * 1336 + 700],
    ['an exact multiple of the MSS', 2 * 1336],
    ['an odd size with a one-byte last segment', 1336 + 1],
    ['a payload smaller than the MSS', 99],
  ] as const) {
    it(`cuts a TSO super-frame into the kernel's segments: ${what}`, function () {
      const t = { seq: 0xfffff000, flags: 0x80 | 0x18 | 0x01, payload: crypto.randomBytes(size) }; // CWR PSH ACK FIN, seq wraps
      const got = segment(superFrame(t, mss));
      const want = expectedSegments(t, mss);
      expect(got.length).to.equal(want.length);
      got.forEach((g, i) => expect(g.toString('hex'), `segment ${i}`).to.equal(want[i]!.toString('hex')));
    });
  }

  it('turns the segments into exact Weave sleeve frames: equal datagrams but the last (what UDP GSO needs)', function () {
    const t = { seq: 1, flags: 0x18, payload: crypto.randomBytes(5 * mss + 77) };
    const segs = segment(superFrame(t, mss));
    const sealer = new PlainSealer();
    const datagrams = segs.map((s) => {
      const rec = Buffer.alloc(FRAME_OVERHEAD + s.length);
      writeFrame(rec, 0, 0x020000000101, 0x020000000202, s);
      const d = Buffer.alloc(6 + rec.length);
      return d.subarray(0, sealer.seal(0x020000000101, rec, rec.length, d, 0));
    });
    const sizes = datagrams.map((d) => d.length);
    expect(new Set(sizes.slice(0, -1)).size).to.equal(1);
    expect(sizes.at(-1)).to.be.lessThan(sizes[0]!);
    const frames: Buffer[] = [];
    for (const d of datagrams) {
      expect(forEachFrame(d, 6, d.length, (b, _s, _d, off, len) => frames.push(Buffer.from(b.subarray(off, off + len))))).to.equal(undefined);
    }
    expect(frames.map((f) => f.toString('hex'))).to.deep.equal(expectedSegments(t, mss).map((f) => f.toString('hex')));
  });

  it('completes a partial checksum of an ordinary frame (UDP) and leaves complete frames alone', function () {
    const ip = Buffer.from('4500002c000040004011000a0a2000010a200002', 'hex');
    ip.writeUInt16BE(~csum(ip) & 0xffff, 10);
    const udp = Buffer.concat([Buffer.from('9c4014510018', 'hex'), Buffer.alloc(2), crypto.randomBytes(15)]);
    const want = Buffer.from(udp);
    want.writeUInt16BE(~csum(want, pseudo(ip, 17, want.length)) & 0xffff || 0xffff, 6);
    const partial = Buffer.from(udp);
    partial.writeUInt16BE(csum(Buffer.alloc(0), pseudo(ip, 17, udp.length)), 6);
    const got = segment(Buffer.concat([vnetHdr(1, 0, 0, 0, 34, 6), ETH, ip, partial]));
    expect(got.map((g) => g.toString('hex'))).to.deep.equal([Buffer.concat([ETH, ip, want]).toString('hex')]);
    const arp = Buffer.concat([Buffer.from('ffffffffffff0200000000010806', 'hex'), crypto.randomBytes(28)]);
    expect(segment(Buffer.concat([vnetHdr(0, 0, 0, 0, 0, 0), arp]))[0]!.equals(arp)).to.equal(true);
  });

  it('drops what it cannot cut (not IPv4/TCP, no MSS, too short) instead of passing it on', function () {
    const t = { seq: 1, flags: 0x10, payload: crypto.randomBytes(3000) };
    const bad = superFrame(t, mss);
    bad.writeUInt16BE(0x86dd, 10 + 12);
    expect(segment(bad)).to.deep.equal([]);
    expect(segment(superFrame(t, 0))).to.deep.equal([]);
    expect(segment(superFrame(t, mss).subarray(0, 40))).to.deep.equal([]);
    expect(segment(Buffer.alloc(5))).to.deep.equal([]);
  });

  function coalesce(frames: Buffer[]): { frames: number; written: Buffer } {
    const data = Buffer.concat(frames);
    const meta = new Uint32Array(frames.length * 2);
    let off = 0;
    frames.forEach((f, i) => {
      meta[2 * i] = off;
      meta[2 * i + 1] = f.length;
      off += f.length;
    });
    return native.coalesceTcp4(data, meta, frames.length);
  }

  it('writes a run of segments of one flow as the super-frame they came from (GSO header, partial checksum)', function () {
    const t = { seq: 0xffffff00, flags: 0x18, payload: crypto.randomBytes(4 * mss + 5) };
    const segs = expectedSegments(t, mss);
    const r = coalesce(segs);
    expect(r.frames).to.equal(segs.length);
    const hdr = r.written.subarray(0, 10);
    expect([...hdr]).to.deep.equal([...vnetHdr(1, 1, 66, mss, 34, 16)]);
    const f = r.written.subarray(10);
    expect(f.length).to.equal(66 + t.payload.length);
    expect(f.subarray(66).equals(t.payload)).to.equal(true);
    expect(csum(f.subarray(14, 34))).to.equal(0xffff); // IP header checksum valid
    expect(f.readUInt16BE(14 + 2)).to.equal(20 + 32 + t.payload.length);
    expect(f.readUInt32BE(34 + 4)).to.equal(t.seq);
    expect(f[34 + 13]).to.equal(0x18); // the last segment's PSH
    // the TCP checksum field holds the pseudo-header sum, as the kernel's TSO leaves it
    expect(f.readUInt16BE(34 + 16)).to.equal(csum(Buffer.alloc(0), pseudo(f.subarray(14, 34), 6, f.length - 34)));
    // and cutting it again gives the same segments back
    const again = Buffer.from(r.written);
    expect(segment(again).map((s) => s.toString('hex'))).to.deep.equal(segs.map((s) => s.toString('hex')));
  });

  it('stops a run where the flow, the sequence or the segment size changes, and leaves other frames alone', function () {
    const a = expectedSegments({ seq: 1000, flags: 0x10, payload: crypto.randomBytes(3 * mss) }, mss);
    const other = tcpFrame({ seq: 1000 + 3 * mss, flags: 0x10, payload: crypto.randomBytes(mss) });
    other.writeUInt16BE(40001, 34); // another source port
    expect(coalesce([...a, other]).frames).to.equal(3);
    expect(coalesce([a[0]!, a[2]!]).frames).to.equal(1); // a gap in the sequence
    const short = tcpFrame({ seq: 1000 + mss, flags: 0x10, payload: crypto.randomBytes(100) });
    const after = tcpFrame({ seq: 1000 + mss + 100, flags: 0x10, payload: crypto.randomBytes(100) });
    expect(coalesce([a[0]!, short, after]).frames).to.equal(2); // only the last may be short
    const fin = tcpFrame({ seq: 1000, flags: 0x11, payload: crypto.randomBytes(mss) });
    expect(coalesce([fin, a[1]!]).frames).to.equal(1);
    const arp = Buffer.concat([Buffer.from('ffffffffffff0200000000010806', 'hex'), crypto.randomBytes(28)]);
    const one = coalesce([arp, a[0]!]);
    expect(one.frames).to.equal(1);
    expect(one.written.subarray(10).equals(arp)).to.equal(true);
    expect(one.written.subarray(0, 10).equals(Buffer.alloc(10))).to.equal(true);
  });
});
