import { expect } from 'chai';
import { AttrSet, attr, attrBe16, attrFlag, attrNested, attrString, attrU16, attrU32, attrU64, attrU8, decodeAttrs } from '../../../datapath/netlink/attributes.ts';
import { hex } from './hex.ts';

describe('netlink attributes codec', function () {
  it('pads to 4 bytes but records the unpadded length (nla_len)', function () {
    expect(attrU8(7, 0)).to.deep.equal(hex('05 00 07 00 00 00 00 00'));
    expect(attrU16(1, 0x1234)).to.deep.equal(hex('06 00 01 00 34 12 00 00'));
    expect(attrU32(4, 1376)).to.deep.equal(hex('08 00 04 00 60 05 00 00'));
    expect(attrU64(2, 0x0102030405060708n)).to.deep.equal(hex('0c 00 02 00 08 07 06 05 04 03 02 01'));
    expect(attrFlag(9)).to.deep.equal(hex('04 00 09 00'));
  });

  it('writes network-order u16 for ports', function () {
    // IFLA_VXLAN_PORT 6784 as iproute2 sends it
    expect(attrBe16(15, 6784)).to.deep.equal(hex('06 00 0f 00 1a 80 00 00'));
  });

  it('NUL-terminates strings (IFLA_IFNAME "wvbr" as iproute2 sends it)', function () {
    expect(attrString(3, 'wvbr')).to.deep.equal(hex('09 00 03 00 77 76 62 72 00 00 00 00'));
    expect(attrString(3, 'vh')).to.deep.equal(hex('07 00 03 00 76 68 00 00'));
    // IFLA_INFO_KIND "bridge" without the NUL, as iproute2 sends it
    expect(attrString(1, 'bridge', false)).to.deep.equal(hex('0a 00 01 00 62 72 69 64 67 65 00 00'));
  });

  it('nests, with or without NLA_F_NESTED', function () {
    const inner = attrString(1, 'bridge', false);
    expect(attrNested(18, [inner], false)).to.deep.equal(hex('10 00 12 00 0a 00 01 00 62 72 69 64 67 65 00 00'));
    expect(attrNested(18, [inner])).to.deep.equal(hex('10 00 12 80 0a 00 01 00 62 72 69 64 67 65 00 00'));
  });

  it('decodes a sequence, stripping flag bits and padding', function () {
    const buf = Buffer.concat([attrU8(7, 1), attrNested(2, [attrU32(1, 42)]), attrString(3, 'vx')]);
    const attrs = decodeAttrs(buf);
    expect(attrs.map((a) => [a.type, a.nested, a.data.length])).to.deep.equal([
      [7, false, 1],
      [2, true, 8],
      [3, false, 3],
    ]);
  });

  it('AttrSet gives typed access, nested sets, last-one-wins', function () {
    const buf = Buffer.concat([
      attrU32(1, 5),
      attrU32(1, 6),
      attrBe16(15, 4789),
      attrString(3, 'name'),
      attrNested(18, [attrString(1, 'veth')], false),
      attrU64(9, 77n),
    ]);
    const set = new AttrSet(buf);
    expect(set.u32(1)).to.equal(6);
    expect(set.be16(15)).to.equal(4789);
    expect(set.str(3)).to.equal('name');
    expect(set.nested(18)?.str(1)).to.equal('veth');
    expect(set.u64(9)).to.equal(77n);
    expect(set.u32(99)).to.equal(undefined);
    expect(set.has(3)).to.equal(true);
    expect(set.list).to.have.length(6);
  });

  it('reads strings without a NUL up to the end', function () {
    const set = new AttrSet(attr(3, Buffer.from('abc')));
    expect(set.str(3)).to.equal('abc');
  });

  it('refuses an attribute whose length overruns the buffer', function () {
    expect(() => decodeAttrs(hex('08 00 01 00 01 00'))).to.throw(/malformed netlink attribute/);
    expect(() => decodeAttrs(hex('02 00 01 00'))).to.throw(/malformed netlink attribute/);
  });

  it('ignores trailing bytes shorter than a header', function () {
    expect(decodeAttrs(hex('05 00 07 00 01 00 00 00 00 00'))).to.have.length(1);
  });
});
