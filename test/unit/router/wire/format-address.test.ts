import { expect } from 'chai';
import { formatAddress } from '../../../../router/mesh/protocol-connection.ts';

describe('formatAddress', () => {
  it('shows IPv4 peers of a dual-stack listener in plain IPv4 form', () => {
    expect(formatAddress('::ffff:198.18.0.3', 57832)).to.equal('198.18.0.3:57832');
  });
  it('keeps IPv4 and brackets real IPv6', () => {
    expect(formatAddress('198.18.0.1', 6783)).to.equal('198.18.0.1:6783');
    expect(formatAddress('fd00::2', 6783)).to.equal('[fd00::2]:6783');
  });
  it('is empty for a socket without an address', () => {
    expect(formatAddress(undefined, 1)).to.equal('');
  });
});
