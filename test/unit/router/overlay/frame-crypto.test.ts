import { expect } from 'chai';
import nacl from 'tweetnacl';
import { PlainOpener, PlainSealer, SecretboxOpener, SecretboxSealer } from '../../../../router/overlay/frame-crypto.ts';
import { peerNameToNumber } from '../../../../router/overlay/peer-name-cache.ts';

const key = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const me = peerNameToNumber('ce:31:e0:06:45:1a');
const frames = Buffer.from('ce31e006451a' + '020000000002' + '0003' + 'aabbcc', 'hex');

function nonce(first: number, seqHex: string): Uint8Array {
  const n = Buffer.alloc(24);
  n[0] = first;
  Buffer.from(seqHex, 'hex').copy(n, 16);
  return n;
}

describe('frame crypto', function () {
  it('plain packets are [sender name][frames]', function () {
    const out = Buffer.alloc(64);
    const n = new PlainSealer().seal(me, frames, frames.length, out, 3);
    expect(out.subarray(3, 3 + n).toString('hex')).to.equal('ce31e006451a' + frames.toString('hex'));
    const o = new PlainOpener();
    expect(o.open(out, 9, 3 + n)).to.equal('ok');
    expect(o.bodyBuf.subarray(o.bodyStart, o.bodyEnd).toString('hex')).to.equal(frames.toString('hex'));
  });

  it('sealed packets match NaCl secretbox with Weave\'s nonce layout (outbound, non-DF)', function () {
    const s = new SecretboxSealer(key, true, false);
    const out = Buffer.alloc(128);
    const n = s.seal(me, frames, frames.length, out, 0);
    expect(n).to.equal(6 + 8 + 16 + frames.length);
    const box = nacl.secretbox(frames, nonce(0x80, '0000000000000000'), key);
    expect(out.subarray(0, n).toString('hex')).to.equal('ce31e006451a' + '0000000000000000' + Buffer.from(box).toString('hex'));
    // the second packet carries seq 1
    const n2 = s.seal(me, frames, frames.length, out, 0);
    const box2 = nacl.secretbox(frames, nonce(0x80, '0000000000000001'), key);
    expect(out.subarray(6, n2).toString('hex')).to.equal('0000000000000001' + Buffer.from(box2).toString('hex'));
  });

  it('the DF stream sets bit 63 and counts on its own; inbound senders clear nonce bit 7', function () {
    const df = new SecretboxSealer(key, false, true);
    const out = Buffer.alloc(128);
    const n = df.seal(me, frames, frames.length, out, 0);
    const box = nacl.secretbox(frames, nonce(0x00, '8000000000000000'), key);
    expect(out.subarray(6, n).toString('hex')).to.equal('8000000000000000' + Buffer.from(box).toString('hex'));
  });

  it('opens what the other end sealed, on both streams, and drops replays', function () {
    const plainStream = new SecretboxSealer(key, true, false);
    const dfStream = new SecretboxSealer(key, true, true);
    const opener = new SecretboxOpener(key, false); // the receiver accepted the connection
    const pkts = [plainStream, dfStream, plainStream, dfStream].map((s) => {
      const out = Buffer.alloc(128);
      return out.subarray(0, s.seal(me, frames, frames.length, out, 0));
    });
    // both streams start at 0: independent windows accept both
    for (const p of pkts) {
      expect(opener.open(p, 6, p.length)).to.equal('ok');
      expect(opener.bodyBuf.subarray(opener.bodyStart, opener.bodyEnd).toString('hex')).to.equal(frames.toString('hex'));
    }
    expect(opener.open(pkts[0]!, 6, pkts[0]!.length)).to.equal('replay');
    expect(opener.open(pkts[3]!, 6, pkts[3]!.length)).to.equal('replay');
  });

  it('rejects forgeries without advancing the window, and the wrong direction bit', function () {
    const sealer = new SecretboxSealer(key, true, false);
    const out = Buffer.alloc(128);
    const n = sealer.seal(me, frames, frames.length, out, 0);
    const genuine = Buffer.from(out.subarray(0, n));
    const opener = new SecretboxOpener(key, false);
    // forged: far-future sequence number (would slide the window) with a bad box
    const forged = Buffer.from(genuine);
    forged.writeUInt32BE(0x7fffffff, 6);
    expect(opener.open(forged, 6, forged.length)).to.equal('forged');
    expect(opener.open(genuine, 6, genuine.length)).to.equal('ok');
    // a receiver that thinks it dialled expects bit 7 clear: the box does not open
    expect(new SecretboxOpener(key, true).open(genuine, 6, genuine.length)).to.equal('forged');
    expect(opener.open(genuine, 6, 6 + 20)).to.equal('short');
  });
});
