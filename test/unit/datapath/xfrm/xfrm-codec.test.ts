// Request vectors are the bodies iproute2's `ip xfrm` sent for the same operation, and decode
// vectors kernel replies (kernel 6.18), captured by fixtures/xfrm/capture.sh with strace.
import { expect } from 'chai';
import { XFRM_POLICY_OUT, IPPROTO_ESP, IPPROTO_UDP } from '../../../../datapath/netlink/xfrm/constants.ts';
import {
  decodePolicy,
  decodeSa,
  encodeAllocSpi,
  encodePolicy,
  encodePolicyId,
  encodeSa,
  encodeSaId,
} from '../../../../datapath/netlink/xfrm/messages.ts';
import { fixture } from '../hex.ts';

const key = Buffer.alloc(36, 0x11);
const reqid = 0x7765;
const mark = { value: 0x20000, mask: 0x20000 };
const selector = { src: '198.18.0.1', dst: '198.18.0.2', srcPrefix: 32, dstPrefix: 32, proto: IPPROTO_UDP };
const tmpl = { src: '198.18.0.1', dst: '198.18.0.2', spi: 0x1234, reqid };
const aead = { name: 'rfc4106(gcm(aes))', key, icvBits: 128 };

describe('xfrm request encoding (vs iproute2 bytes)', function () {
  it('ip xfrm state allocspi src 198.18.0.2 dst 198.18.0.1 proto esp mode transport reqid 0x7765 min 0x100 max 0xfffffff', function () {
    expect(encodeAllocSpi({ src: '198.18.0.2', dst: '198.18.0.1', reqid, min: 0x100, max: 0xfffffff })).to.deep.equal(fixture('xfrm/allocspi-req'));
  });

  it("ip xfrm state add ... spi 0x1234 replay-window 256 flag esn aead 'rfc4106(gcm(aes))' <36 bytes> 128", function () {
    const spec = { src: '198.18.0.1', dst: '198.18.0.2', spi: 0x1234, reqid, aead, replayWindow: 256, esn: true };
    expect(encodeSa(spec)).to.deep.equal(fixture('xfrm/newsa-req'));
  });

  it('ip xfrm state update (the same body, completing an allocated SPI)', function () {
    const spec = { src: '198.18.0.2', dst: '198.18.0.1', spi: 0x1234, reqid, aead, replayWindow: 256, esn: true };
    expect(encodeSa(spec)).to.deep.equal(fixture('xfrm/updsa-req'));
  });

  it('ip xfrm state delete src 198.18.0.2 dst 198.18.0.1 proto esp spi 0x1234', function () {
    expect(encodeSaId({ src: '198.18.0.2', dst: '198.18.0.1', spi: 0x1234 })).to.deep.equal(fixture('xfrm/delsa-req'));
  });

  it('ip xfrm policy add|update ... proto udp dir out mark 0x20000 mask 0x20000 tmpl ... proto esp spi 0x1234 mode transport', function () {
    const spec = { selector, dir: XFRM_POLICY_OUT, mark, templates: [tmpl] };
    expect(encodePolicy(spec)).to.deep.equal(fixture('xfrm/newpolicy-req'));
    expect(encodePolicy(spec)).to.deep.equal(fixture('xfrm/updpolicy-req'));
  });

  it('ip xfrm policy delete ... dir out mark 0x20000 mask 0x20000', function () {
    expect(encodePolicyId({ selector, dir: XFRM_POLICY_OUT, mark })).to.deep.equal(fixture('xfrm/delpolicy-req'));
  });

  it('refuses a replay window the u8 field cannot hold without ESN', function () {
    expect(() => encodeSa({ src: '198.18.0.1', dst: '198.18.0.2', spi: 1, reqid, aead, replayWindow: 256, esn: false })).to.throw(/ESN/);
  });
});

describe('xfrm reply decoding (kernel bytes)', function () {
  it("ALLOCSPI's answer: the larval SA with the kernel's SPI, expiring in 30 s", function () {
    expect(decodeSa(fixture('xfrm/allocspi-reply'))).to.deep.equal({
      src: '198.18.0.2',
      dst: '198.18.0.1',
      spi: 0x1234,
      proto: IPPROTO_ESP,
      reqid,
      mode: 0,
      selector: { src: '198.18.0.2', dst: '198.18.0.1', srcPrefix: 32, dstPrefix: 32, proto: 0 },
      mark: undefined,
      hardAddExpires: 30,
    });
  });

  it('a policy dump entry: selector, direction, mark, template', function () {
    const p = decodePolicy(fixture('xfrm/policy-dump-reply'));
    expect(p.selector).to.deep.equal(selector);
    expect(p.dir).to.equal(XFRM_POLICY_OUT);
    expect(p.mark).to.deep.equal(mark);
    expect(p.templates).to.deep.equal([{ ...tmpl, proto: IPPROTO_ESP, mode: 0 }]);
  });

  it('rejects truncated messages with a clear error', function () {
    expect(() => decodeSa(Buffer.alloc(10))).to.throw(/too short/);
    expect(() => decodePolicy(Buffer.alloc(10))).to.throw(/too short/);
  });
});
