import { expect } from 'chai';
import { bytesToIp, bytesToMac, ipToBytes, macToBytes, parseCidr } from '../../../datapath/netlink/inet.ts';
import { hex } from './hex.ts';

describe('netlink address helpers', function () {
  it('MAC text <-> bytes', function () {
    expect(macToBytes('02:AA:0:0:0:1')).to.deep.equal(hex('02aa00000001'));
    expect(bytesToMac(hex('4eb4db5f027c'))).to.equal('4e:b4:db:5f:02:7c');
    expect(() => macToBytes('02:aa:00:00:00')).to.throw(/invalid MAC/);
    expect(() => macToBytes('02:aa:00:00:00:zz')).to.throw(/invalid MAC/);
  });

  it('IPv4 and IPv6 text <-> bytes', function () {
    expect(ipToBytes('198.18.0.1')).to.deep.equal(hex('c6120001'));
    expect(ipToBytes('fe80::1')).to.deep.equal(hex('fe800000000000000000000000000001'));
    expect(ipToBytes('::ffff:10.32.0.1')).to.deep.equal(hex('00000000000000000000ffff0a200001'));
    expect(ipToBytes('2001:db8:1:2:3:4:5:6')).to.deep.equal(hex('20010db8000100020003000400050006'));
    expect(bytesToIp(hex('0a200001'))).to.equal('10.32.0.1');
    expect(bytesToIp(hex('fe800000000000000000000000000001'))).to.equal('fe80::1');
    expect(() => ipToBytes('10.32.0')).to.throw(/invalid IP/);
  });

  it('parses CIDRs', function () {
    expect(parseCidr('10.32.0.1/12')).to.deep.equal({ address: '10.32.0.1', prefixLength: 12, family: 2 });
    expect(parseCidr('fd00::1')).to.deep.equal({ address: 'fd00::1', prefixLength: 128, family: 10 });
    expect(() => parseCidr('10.0.0.0/33')).to.throw(/prefix/);
  });
});
