import { expect } from 'chai';
import { endpointMacFor } from '../../../plugin/endpoint-mac.ts';

describe('endpointMacFor', () => {
  it('derives 02:42 and the address bytes, as Docker does for its own drivers', () => {
    expect(endpointMacFor('10.40.1.0/16')).to.equal('02:42:0a:28:01:00');
    expect(endpointMacFor('10.32.0.1')).to.equal('02:42:0a:20:00:01');
    expect(endpointMacFor('255.254.253.252/30')).to.equal('02:42:ff:fe:fd:fc');
  });

  it('gives a restarted container (same address) the same MAC and distinct addresses distinct MACs', () => {
    expect(endpointMacFor('10.40.2.128/16')).to.equal(endpointMacFor('10.40.2.128/24'));
    expect(endpointMacFor('10.40.2.128/16')).to.not.equal(endpointMacFor('10.40.2.129/16'));
  });

  it('refuses what is not an IPv4 address', () => {
    expect(() => endpointMacFor('fe80::1/64')).to.throw(/invalid IPv4/);
  });
});
