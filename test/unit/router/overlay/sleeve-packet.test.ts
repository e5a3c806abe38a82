import { expect } from 'chai';
import {
  FRAME_OVERHEAD,
  HEARTBEAT_FRAME_SIZE,
  dfOverhead,
  forEachFrame,
  heartbeatFrame,
  heartbeatUid,
  isSpecialFrame,
  pmtuVerifiedBody,
  specialKind,
  writeFrame,
  PLAIN_PACKET_OVERHEAD,
  SEALED_PACKET_OVERHEAD,
} from '../../../../router/overlay/sleeve-packet.ts';
import { PeerNameCache, peerNameToNumber } from '../../../../router/overlay/peer-name-cache.ts';

const A = peerNameToNumber('ce:31:e0:06:45:1a');
const B = peerNameToNumber('02:00:00:00:00:02');

function frames(buf: Buffer, start: number, end: number) {
  const out: { src: number; dst: number; hex: string }[] = [];
  const err = forEachFrame(buf, start, end, (b, src, dst, off, len) => out.push({ src, dst, hex: b.subarray(off, off + len).toString('hex') }));
  return { out, err };
}

describe('sleeve packet codec', function () {
  it('writes a frame record as [src 6][dst 6][len 2 BE][frame]', function () {
    const buf = Buffer.alloc(32);
    const end = writeFrame(buf, 2, A, B, Buffer.from('aabbcc', 'hex'));
    expect(end).to.equal(2 + FRAME_OVERHEAD + 3);
    expect(buf.subarray(0, end).toString('hex')).to.equal('0000' + 'ce31e006451a' + '020000000002' + '0003' + 'aabbcc');
  });

  it('writes part of a frame', function () {
    const buf = Buffer.alloc(32);
    const end = writeFrame(buf, 0, B, A, Buffer.from('0011223344', 'hex'), 1, 2);
    expect(buf.subarray(0, end).toString('hex')).to.equal('020000000002' + 'ce31e006451a' + '0002' + '1122');
  });

  it('walks a batch of frames (the bytes Weave sends)', function () {
    const body = Buffer.from('ce31e006451a' + '020000000002' + '0002' + 'beef' + '020000000002' + 'ce31e006451a' + '0000' + '020000000002' + 'ffffffffffff' + '0001' + '01', 'hex');
    const { out, err } = frames(body, 0, body.length);
    expect(err).to.equal(undefined);
    expect(out).to.deep.equal([
      { src: A, dst: B, hex: 'beef' },
      { src: B, dst: A, hex: '' },
      { src: B, dst: 0xffffffffffff, hex: '01' },
    ]);
  });

  it('reports a truncated frame and trailing garbage after visiting the good frames', function () {
    const good = 'ce31e006451a' + '020000000002' + '0002' + 'beef';
    let body = Buffer.from(good + 'ce31e006451a' + '020000000002' + '0005' + 'beef', 'hex');
    let r = frames(body, 0, body.length);
    expect(r.out).to.have.length(1);
    expect(r.err).to.equal('too short; expected frame of length 5, got 2');
    body = Buffer.from(good + '0102', 'hex');
    r = frames(body, 0, body.length);
    expect(r.out).to.have.length(1);
    expect(r.err).to.equal('2 octets of trailing garbage');
  });

  it('respects start and end offsets', function () {
    const body = Buffer.from('ff' + 'ce31e006451a' + '020000000002' + '0001' + '42' + 'ee', 'hex');
    const r = frames(body, 1, body.length - 1);
    expect(r).to.deep.equal({ out: [{ src: A, dst: B, hex: '42' }], err: undefined });
  });

  it('builds and recognises heartbeats', function () {
    const hb = heartbeatFrame(0x0102030405060708n);
    expect(hb.toString('hex')).to.equal('00'.repeat(14) + '0102030405060708');
    expect(hb.length).to.equal(HEARTBEAT_FRAME_SIZE);
    expect(isSpecialFrame(hb, 0, hb.length)).to.equal(true);
    expect(specialKind(hb.length)).to.equal('heartbeat');
    expect(heartbeatUid(hb, 0)).to.equal(0x0102030405060708n);
    // UIDs are uint64 on the wire even if someone hands us a negative bigint
    expect(heartbeatUid(heartbeatFrame(-1n), 0)).to.equal(0xffffffffffffffffn);
  });

  it('classifies special frames by length, and only all-zero Ethernet headers', function () {
    expect(specialKind(60001)).to.equal('frag-test');
    expect(specialKind(1452)).to.equal('pmtu-test');
    const f = Buffer.alloc(60);
    expect(isSpecialFrame(f, 0, 60)).to.equal(true);
    f[13] = 8;
    expect(isSpecialFrame(f, 0, 60)).to.equal(false);
    expect(isSpecialFrame(Buffer.alloc(10), 0, 10)).to.equal(false);
  });

  it('encodes the PMTUVerified body as the tested MTU', function () {
    expect(pmtuVerifiedBody(1452).toString('hex')).to.equal('059e'); // 1438
  });

  it('computes the DF overheads Weave logs (62 plain, 86 sealed)', function () {
    expect(dfOverhead(PLAIN_PACKET_OVERHEAD)).to.equal(62);
    expect(dfOverhead(SEALED_PACKET_OVERHEAD)).to.equal(86);
    expect(1500 - dfOverhead(PLAIN_PACKET_OVERHEAD)).to.equal(1438);
    expect(1500 - dfOverhead(SEALED_PACKET_OVERHEAD)).to.equal(1414);
  });

  it('maps names to numbers and back through the cache', function () {
    const c = new PeerNameCache();
    const buf = Buffer.from('00ce31e006451a', 'hex');
    expect(c.read(buf, 1)).to.equal('ce:31:e0:06:45:1a');
    expect(c.toNumber('ce:31:e0:06:45:1a')).to.equal(A);
    expect(c.read(buf, 1)).to.equal('ce:31:e0:06:45:1a');
    c.forget('ce:31:e0:06:45:1a');
    expect(c.toNumber('02:00:00:00:00:02')).to.equal(B);
  });
});
