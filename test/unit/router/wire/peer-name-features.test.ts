import { expect } from 'chai';
import { decodeFeatures, encodeFeatures, makeFeatures, parseFeatures } from '../../../../router/mesh/features.ts';
import {
  peerNameFromFeature,
  peerNameFromNameByte,
  peerNameFromUint64,
  peerNameToNameByte,
  peerNameToUint64,
} from '../../../../router/mesh/peer-name-wire.ts';

describe('peer name wire forms', () => {
  it('NameByte is the 6 name bytes big-endian; the gossip form is the same value as a uint64', () => {
    expect(peerNameToNameByte('ce:31:e0:06:45:1a').toString('hex')).to.equal('ce31e006451a');
    expect(peerNameFromNameByte(Buffer.from('ce31e006451a', 'hex'))).to.equal('ce:31:e0:06:45:1a');
    expect(peerNameToUint64('ce:31:e0:06:45:1a')).to.equal(0xce31e006451an);
    expect(peerNameFromUint64(0xce31e006451an)).to.equal('ce:31:e0:06:45:1a');
    expect(peerNameFromUint64(0n)).to.equal('00:00:00:00:00:00');
    // Go's macint/intmac: shorter byte strings shift in, high bits beyond 48 drop.
    expect(peerNameFromNameByte(Buffer.from([1, 2]))).to.equal('00:00:00:00:01:02');
    expect(peerNameFromUint64(0xffff000000000001n)).to.equal('00:00:00:00:00:01');
    expect(() => peerNameToNameByte('CE:31:E0:06:45:1A')).to.throw(/canonical/);
  });

  it('reads the Name feature as Go net.ParseMAC writes or accepts it', () => {
    expect(peerNameFromFeature('ce:31:e0:06:45:1a')).to.equal('ce:31:e0:06:45:1a');
    expect(peerNameFromFeature('CE-31-E0-06-45-1A')).to.equal('ce:31:e0:06:45:1a');
    expect(peerNameFromFeature('ce31.e006.451a')).to.equal('ce:31:e0:06:45:1a');
    expect(() => peerNameFromFeature('ce:31-e0:06:45:1a')).to.throw(/invalid peer name/);
    expect(() => peerNameFromFeature('ce:31:e0:06:45')).to.throw(/invalid peer name/);
  });
});

describe('features', () => {
  const local = { name: 'ce:31:e0:06:45:1a', nickname: 'host1', uid: 18446744073709551557n, shortId: 4095 };

  it('makes the map Weave sends; identity keys cannot be overridden by extras', () => {
    const f = makeFeatures(local, 42n, { Overlays: 'fastdp sleeve', Trusted: 'false', Name: 'spoofed' });
    expect(f).to.deep.equal({
      Overlays: 'fastdp sleeve',
      Trusted: 'false',
      PeerNameFlavour: 'mac',
      Name: 'ce:31:e0:06:45:1a',
      NickName: 'host1',
      ShortID: '4095',
      UID: '18446744073709551557',
      ConnID: '42',
    });
  });

  it('is a gob map[string]string', () => {
    const bytes = encodeFeatures({ Name: 'x' });
    // type definition of map[string]string (id 65), then the map value
    expect(bytes.toString('hex')).to.equal('0eff81040102ff8200010c010c00000bff820001044e616d650178');
    expect(decodeFeatures(bytes)).to.deep.equal({ Name: 'x' });
  });

  it('parses the remote identity, keeping all features', () => {
    const remote = parseFeatures(makeFeatures(local, 0xffffffffffffffffn, { Overlays: 'sleeve' }));
    expect(remote).to.deep.equal({
      name: 'ce:31:e0:06:45:1a',
      nickname: 'host1',
      uid: 18446744073709551557n,
      shortId: 4095,
      connId: 0xffffffffffffffffn,
      features: makeFeatures(local, 0xffffffffffffffffn, { Overlays: 'sleeve' }),
    });
    const { ShortID: _s, ...noShortId } = makeFeatures(local, 1n);
    expect(parseFeatures(noShortId)).to.not.have.property('shortId');
  });

  it('refuses incomplete or malformed features with the reason', () => {
    const good = makeFeatures(local, 1n);
    for (const key of ['PeerNameFlavour', 'Name', 'NickName', 'UID', 'ConnID']) {
      const f = { ...good };
      delete f[key];
      expect(() => parseFeatures(f)).to.throw(`Field ${key} is missing`);
    }
    expect(() => parseFeatures({ ...good, PeerNameFlavour: 'hash' })).to.throw(/flavour mismatch/);
    expect(() => parseFeatures({ ...good, UID: '18446744073709551616' })).to.throw(/UID.*out of range/);
    expect(() => parseFeatures({ ...good, UID: '-1' })).to.throw(/UID.*not a decimal/);
    expect(() => parseFeatures({ ...good, ShortID: '4096' })).to.throw(/ShortID.*out of range/);
    expect(() => parseFeatures({ ...good, Trusted: 'yes' })).to.throw(/Trusted/);
    expect(() => parseFeatures({ ...good, Name: 'nonsense' })).to.throw(/invalid peer name/);
  });
});
