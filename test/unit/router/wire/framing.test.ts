import { expect } from 'chai';
import { encodeFrame, FrameReader, FrameTooLargeError, MAX_TCP_MSG_SIZE } from '../../../../router/mesh/framing.ts';

describe('framing', () => {
  it('prefixes a 4-byte big-endian length', () => {
    expect(encodeFrame(Buffer.from([4, 9, 9])).toString('hex')).to.equal('00000003040909');
    expect(encodeFrame(Buffer.alloc(0)).toString('hex')).to.equal('00000000');
    expect(encodeFrame(Buffer.alloc(0x01020304 % MAX_TCP_MSG_SIZE)).subarray(0, 4).toString('hex')).to.equal(
      (0x01020304 % MAX_TCP_MSG_SIZE).toString(16).padStart(8, '0'),
    );
  });

  it('reassembles frames split at any byte', () => {
    const stream = Buffer.concat([encodeFrame(Buffer.from('first')), encodeFrame(Buffer.alloc(0)), encodeFrame(Buffer.from('third!'))]);
    for (const step of [1, 2, 3, 5, 7, stream.length]) {
      const r = new FrameReader();
      const got: string[] = [];
      for (let i = 0; i < stream.length; i += step) {
        r.push(stream.subarray(i, i + step));
        for (let f = r.next(); f; f = r.next()) got.push(f.toString());
      }
      expect(got, `step ${step}`).to.deep.equal(['first', '', 'third!']);
      expect(r.bufferedBytes).to.equal(0);
    }
  });

  it('accepts exactly 10 MiB and refuses one byte more, before buffering the body', () => {
    expect(() => encodeFrame(Buffer.alloc(MAX_TCP_MSG_SIZE + 1))).to.throw(FrameTooLargeError, /outgoing message exceeds maximum size/);
    const r = new FrameReader();
    const head = Buffer.alloc(4);
    head.writeUInt32BE(MAX_TCP_MSG_SIZE + 1);
    r.push(head);
    expect(() => r.next()).to.throw(FrameTooLargeError, /incoming message exceeds maximum size: 10485761 > 10485760/);
    const ok = new FrameReader();
    ok.push(encodeFrame(Buffer.alloc(MAX_TCP_MSG_SIZE, 7)));
    expect(ok.next()?.length).to.equal(MAX_TCP_MSG_SIZE);
  });

  it('hands over unframed bytes', () => {
    const r = new FrameReader();
    r.push(Buffer.from([0, 0, 0, 9, 1, 2]));
    expect(r.next()).to.equal(undefined);
    expect(r.drain().toString('hex')).to.equal('000000090102');
  });
});
