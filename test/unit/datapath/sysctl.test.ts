import { expect } from 'chai';
import { netSysctlPath } from '../../../datapath/sysctl.ts';

describe('net sysctl keys', function () {
  it('maps dotted and slash keys under /proc/sys/net', function () {
    expect(netSysctlPath('net.ipv4.ip_forward')).to.equal('/proc/sys/net/ipv4/ip_forward');
    expect(netSysctlPath('ipv4.conf.all.rp_filter')).to.equal('/proc/sys/net/ipv4/conf/all/rp_filter');
    expect(netSysctlPath('ipv4/conf/br.0/arp_accept')).to.equal('/proc/sys/net/ipv4/conf/br.0/arp_accept');
    expect(netSysctlPath('/proc/sys/net/ipv6/conf/all/disable_ipv6')).to.equal('/proc/sys/net/ipv6/conf/all/disable_ipv6');
  });

  it('refuses keys that would leave /proc/sys/net', function () {
    expect(() => netSysctlPath('ipv4/../../kernel/hostname')).to.throw(/invalid/);
    expect(() => netSysctlPath('')).to.throw(/invalid/);
  });
});
