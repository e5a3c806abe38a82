import { expect } from 'chai';
import { decodeAck, decodeHeartbeat, encodeAck, encodeHeartbeat } from '../../../../router/overlay/fastdp-heartbeat.ts';

describe('fastdp heartbeat codec', function () {
  const hb = { connUid: 0x0102030405060708n, frameSize: 1390, ext: { sender: 'ce:31:e0:06:45:1a', seq: 7 } };
  const weavePart = '0102030405060708' + '056e';
  const bytes = weavePart + '57564644' + '02' + '00' + 'ce31e006451a' + '00000007';

  it('starts with Weave\'s heartbeat (connection UID, frame size), then our extension', function () {
    expect(encodeHeartbeat(hb).toString('hex')).to.equal(bytes);
    expect(encodeHeartbeat({ connUid: hb.connUid, frameSize: 1390 }).toString('hex')).to.equal(weavePart);
  });

  it('decodes a padded payload whose frame has the size it claims', function () {
    const padded = Buffer.concat([Buffer.from(bytes, 'hex'), Buffer.alloc(1364)]);
    expect(decodeHeartbeat(padded, 1390)).to.deep.equal(hb);
  });

  it('decodes a Weave router\'s heartbeat (UID and size, zero padding) without the extension', function () {
    const weave = Buffer.concat([Buffer.from(weavePart, 'hex'), Buffer.alloc(1376 - 10)]);
    expect(decodeHeartbeat(weave, 1390)).to.deep.equal({ connUid: hb.connUid, frameSize: 1390 });
  });

  it('rejects other frame sizes and short payloads; ignores an extension of another version', function () {
    const b = Buffer.from(bytes, 'hex');
    expect(decodeHeartbeat(b, 1389)).to.equal(undefined);
    expect(decodeHeartbeat(b.subarray(0, 9), 1390)).to.equal(undefined);
    const other = Buffer.from(b);
    other[14] = 3;
    expect(decodeHeartbeat(other, 1390)).to.deep.equal({ connUid: hb.connUid, frameSize: 1390 });
  });

  it('acks carry the frame size and sequence; Weave\'s empty ack decodes to no fields', function () {
    expect(encodeAck(590, 0x01020304).toString('hex')).to.equal('024e01020304');
    expect(decodeAck(Buffer.from('024e01020304', 'hex'))).to.deep.equal({ frameSize: 590, seq: 0x01020304 });
    expect(decodeAck(Buffer.alloc(0))).to.deep.equal({});
    expect(decodeAck(Buffer.from('024e0102', 'hex'))).to.equal(undefined);
  });
});
