import { expect } from 'chai';
import { decodeAck, decodeHeartbeat, encodeAck, encodeHeartbeat } from '../../../../router/overlay/fastdp-heartbeat.ts';

describe('fastdp heartbeat codec', function () {
  const hb = { sender: 'ce:31:e0:06:45:1a', connUid: 0x0102030405060708n, frameSize: 1390, seq: 7 };
  const bytes = '57564644' + '01' + '00' + 'ce31e006451a' + '0102030405060708' + '056e' + '00000007';

  it('encodes magic, version, sender, connection UID, frame size and sequence', function () {
    expect(encodeHeartbeat(hb).toString('hex')).to.equal(bytes);
  });

  it('decodes a padded payload whose frame has the size it claims', function () {
    const padded = Buffer.concat([Buffer.from(bytes, 'hex'), Buffer.alloc(1364)]);
    expect(decodeHeartbeat(padded, 1390)).to.deep.equal(hb);
  });

  it('rejects other frame sizes, wrong magic or version, and short payloads', function () {
    const b = Buffer.from(bytes, 'hex');
    expect(decodeHeartbeat(b, 1389)).to.equal(undefined);
    const badMagic = Buffer.from(b);
    badMagic[0] = 0;
    expect(decodeHeartbeat(badMagic, 1390)).to.equal(undefined);
    const badVersion = Buffer.from(b);
    badVersion[4] = 2;
    expect(decodeHeartbeat(badVersion, 1390)).to.equal(undefined);
    expect(decodeHeartbeat(b.subarray(0, 25), 1390)).to.equal(undefined);
  });

  it('acks carry the frame size and sequence', function () {
    expect(encodeAck(590, 0x01020304).toString('hex')).to.equal('024e01020304');
    expect(decodeAck(Buffer.from('024e01020304', 'hex'))).to.deep.equal({ frameSize: 590, seq: 0x01020304 });
    expect(decodeAck(Buffer.from('024e0102', 'hex'))).to.equal(undefined);
  });
});
