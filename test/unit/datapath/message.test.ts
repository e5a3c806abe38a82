import { expect } from 'chai';
import { decodeErrorPayload, decodeMessages, encodeMessage } from '../../../datapath/netlink/message.ts';
import { NetlinkError, errnoName } from '../../../datapath/netlink/netlink-error.ts';
import { NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST } from '../../../datapath/netlink/constants.ts';
import { hex } from './hex.ts';

describe('netlink message codec', function () {
  it('encodes nlmsghdr as iproute2 sends `ip link add wvbr type bridge`', function () {
    const payload = hex('00000000 00000000 00000000 00000000 09000300 77766272 00000000 10001200 0a000100 62726964 67650000');
    const msg = encodeMessage({
      type: 16,
      flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
      seq: 1795897678,
      pid: 0,
      payload,
    });
    expect(msg.subarray(0, 16)).to.deep.equal(hex('3c 00 00 00 10 00 05 06 4e 39 0b 6b 00 00 00 00'));
    expect(msg.subarray(16)).to.deep.equal(payload);
  });

  it('pads the message but keeps nlmsg_len exact', function () {
    const msg = encodeMessage({ type: 3, flags: 2, seq: 1, pid: 2, payload: hex('01 02 03') });
    expect(msg).to.deep.equal(hex('13000000 0300 0200 01000000 02000000 010203 00'));
  });

  it('decodes several messages in one datagram', function () {
    const a = encodeMessage({ type: 16, flags: 2, seq: 7, pid: 99, payload: hex('aa bb cc') });
    const b = encodeMessage({ type: 3, flags: 2, seq: 7, pid: 99, payload: hex('00 00 00 00') });
    const msgs = decodeMessages(Buffer.concat([a, b]));
    expect(msgs.map((m) => [m.type, m.flags, m.seq, m.pid, m.payload.toString('hex')])).to.deep.equal([
      [16, 2, 7, 99, 'aabbcc'],
      [3, 2, 7, 99, '00000000'],
    ]);
  });

  it('refuses a message whose length overruns the datagram', function () {
    expect(() => decodeMessages(hex('20000000 1000 0000 01000000 00000000 0000'))).to.throw(/malformed netlink message/);
  });

  it('decodes an ack (error 0)', function () {
    const p = decodeErrorPayload(hex('00000000 20000000 1000 0500 2a000000 e8030000'), 0x100);
    expect(p.errno).to.equal(0);
    expect(p.request).to.deep.equal({ len: 32, type: 16, flags: 5, seq: 42, pid: 1000 });
  });

  it('decodes a capped error with an extended-ack message and offset', function () {
    // error -17 (EEXIST), capped request header, then NLMSGERR_ATTR_MSG "exists" and OFFS 20
    const payload = hex('efffffff 20000000 1000 0506 2a000000 e8030000 0b000100 65786973747300 00 08000200 14000000');
    const p = decodeErrorPayload(payload, 0x300);
    expect(p.errno).to.equal(17);
    expect(p.message).to.equal('exists');
    expect(p.offset).to.equal(20);
  });

  it('skips the echoed request when the error is not capped', function () {
    // error -22, full 20-byte request echoed (aligned to 20), then the TLV
    const payload = hex('eaffffff 14000000 1000 0500 01000000 00000000 61626364 08000100 62616400');
    const p = decodeErrorPayload(payload, 0x200);
    expect(p.errno).to.equal(22);
    expect(p.message).to.equal('bad');
  });
});

describe('NetlinkError', function () {
  it('names errnos like Node does', function () {
    expect(errnoName(17)).to.equal('EEXIST');
    expect(errnoName(2)).to.equal('ENOENT');
    expect(errnoName(19)).to.equal('ENODEV');
    expect(errnoName(16)).to.equal('EBUSY');
    expect(errnoName(11)).to.equal('EAGAIN');
    expect(errnoName(9999)).to.equal('E9999');
  });

  it('carries errno, code and the kernel message', function () {
    const e = new NetlinkError(17, 'create bridge wvbr', 'File exists');
    expect(e).to.be.instanceOf(Error);
    expect(e.code).to.equal('EEXIST');
    expect(e.errno).to.equal(17);
    expect(e.extack).to.equal('File exists');
    expect(e.message).to.equal('create bridge wvbr: EEXIST (File exists)');
    expect(NetlinkError.is(e, 'EEXIST')).to.equal(true);
    expect(NetlinkError.is(e, 'ENOENT')).to.equal(false);
    expect(NetlinkError.is(new Error('x'))).to.equal(false);
  });
});
