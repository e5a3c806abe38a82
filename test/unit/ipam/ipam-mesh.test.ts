import { expect } from 'chai';
import { consensusCount, parseIpallocInit } from '../../../ipam/ipam-mesh.ts';

describe('ipam/--ipalloc-init', () => {
  it('parses the three modes', () => {
    expect(parseIpallocInit('consensus', 4)).to.deep.equal({ mode: 'consensus', count: 4 });
    expect(parseIpallocInit('consensus=5', 4)).to.deep.equal({ mode: 'consensus', count: 5 });
    expect(parseIpallocInit('seed=0A:00:00:00:00:01, 0a:00:00:00:00:02', 1)).to.deep.equal({ mode: 'seed', peers: ['0a:00:00:00:00:01', '0a:00:00:00:00:02'] });
    expect(parseIpallocInit('observer', 1)).to.deep.equal({ mode: 'observer' });
  });

  it('refuses what it cannot mean', () => {
    expect(() => parseIpallocInit('consensus=0', 1)).to.throw(/N >= 1/);
    expect(() => parseIpallocInit('seed=host1', 1)).to.throw(/not a peer name/);
    expect(() => parseIpallocInit('quorum', 1)).to.throw(/must be consensus/);
  });

  it('counts the peers named at launch plus ourselves, not ourselves twice', () => {
    expect(consensusCount([], ['127.0.0.1'])).to.equal(1);
    expect(consensusCount(['198.18.0.2', '198.18.0.3:6783'], ['198.18.0.1'])).to.equal(3);
    // the same list on every host names this host too
    expect(consensusCount(['198.18.0.1', '198.18.0.2', '198.18.0.3'], ['127.0.0.1', '198.18.0.1'])).to.equal(3);
    expect(consensusCount(['198.18.0.2', '198.18.0.2:6783'], ['198.18.0.1'])).to.equal(2);
  });
});
