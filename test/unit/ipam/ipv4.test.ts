import { expect } from 'chai';
import { formatIpv4, isIpv4, parseIpv4 } from '../../../common/ipv4.ts';
import { containsAddress, containsCidr, formatCidr, lastOf, makeCidr, maskOf, overlaps, parseCidr, sizeOf } from '../../../ipam/cidr.ts';

describe('ipam/ipv4', () => {
  const vectors: [string, number][] = [
    ['0.0.0.0', 0],
    ['10.32.0.0', 0x0a200000],
    ['10.32.0.1', 0x0a200001],
    ['192.168.1.255', 0xc0a801ff],
    ['255.255.255.255', 0xffffffff],
  ];
  for (const [text, value] of vectors) {
    it(`parses and formats ${text}`, () => {
      expect(parseIpv4(text)).to.equal(value);
      expect(formatIpv4(value)).to.equal(text);
    });
  }

  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-4', 'a.b.c.d', '1.2.3.4 ', ' 1.2.3.4', '1..2.3', '1.2.3.4/24', '::1']) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      expect(() => parseIpv4(bad)).to.throw(/invalid IPv4 address/);
      expect(isIpv4(bad)).to.equal(false);
    });
  }

  it('refuses to format values outside uint32', () => {
    expect(() => formatIpv4(-1)).to.throw(RangeError);
    expect(() => formatIpv4(2 ** 32)).to.throw(RangeError);
    expect(() => formatIpv4(1.5)).to.throw(RangeError);
  });
});

describe('ipam/cidr', () => {
  it('computes masks, including /0 and /32', () => {
    expect(maskOf(0)).to.equal(0);
    expect(maskOf(1)).to.equal(0x80000000);
    expect(maskOf(12)).to.equal(0xfff00000);
    expect(maskOf(24)).to.equal(0xffffff00);
    expect(maskOf(32)).to.equal(0xffffffff);
  });

  it('parses networks and computes size and last address', () => {
    const c = parseCidr('10.32.0.0/12');
    expect(c).to.deep.equal({ base: 0x0a200000, prefix: 12 });
    expect(sizeOf(c)).to.equal(1 << 20);
    expect(formatCidr({ base: lastOf(c), prefix: 32 })).to.equal('10.47.255.255/32');
    expect(formatCidr(parseCidr('0.0.0.0/0'))).to.equal('0.0.0.0/0');
    expect(lastOf(parseCidr('0.0.0.0/0'))).to.equal(0xffffffff);
    expect(formatCidr(parseCidr('255.255.255.255/32'))).to.equal('255.255.255.255/32');
  });

  it('refuses host bits and names the network instead', () => {
    expect(() => parseCidr('10.1.2.3/24')).to.throw(/host bits set, did you mean 10\.1\.2\.0\/24/);
  });

  for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/-1', 'x/24', '10.0.0.0/24/1']) {
    it(`refuses CIDR ${JSON.stringify(bad)}`, () => {
      expect(() => parseCidr(bad)).to.throw(/invalid/);
    });
  }

  it('masks an address into its network', () => {
    expect(formatCidr(makeCidr(parseIpv4('10.33.7.200'), 24))).to.equal('10.33.7.0/24');
    expect(formatCidr(makeCidr(parseIpv4('10.33.7.200'), 0))).to.equal('0.0.0.0/0');
  });

  it('answers containment and overlap at the edges', () => {
    const a = parseCidr('10.32.0.0/16');
    expect(containsAddress(a, parseIpv4('10.32.0.0'))).to.equal(true);
    expect(containsAddress(a, parseIpv4('10.32.255.255'))).to.equal(true);
    expect(containsAddress(a, parseIpv4('10.33.0.0'))).to.equal(false);
    expect(containsAddress(a, parseIpv4('10.31.255.255'))).to.equal(false);
    expect(containsCidr(a, parseCidr('10.32.4.0/24'))).to.equal(true);
    expect(containsCidr(a, parseCidr('10.32.0.0/16'))).to.equal(true);
    expect(containsCidr(a, parseCidr('10.32.0.0/15'))).to.equal(false);
    expect(containsCidr(a, parseCidr('10.33.0.0/24'))).to.equal(false);
    expect(overlaps(a, parseCidr('10.32.255.0/24'))).to.equal(true);
    expect(overlaps(a, parseCidr('10.0.0.0/8'))).to.equal(true);
    expect(overlaps(parseCidr('10.0.0.0/8'), a)).to.equal(true);
    expect(overlaps(a, parseCidr('10.33.0.0/24'))).to.equal(false);
    expect(overlaps(a, parseCidr('10.31.255.0/24'))).to.equal(false);
  });
});
