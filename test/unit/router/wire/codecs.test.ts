import { expect } from 'chai';
import { ProtocolTag } from '../../../../router/mesh/contract.ts';
import type { PeerSummary } from '../../../../router/mesh/contract.ts';
import { decodeGossipEnvelope, encodeGossipEnvelope } from '../../../../router/mesh/gossip-codec.ts';
import { decodeTopology, encodeTopology } from '../../../../router/mesh/topology-codec.ts';
import { GobDecoder } from '../../../../router/gob/index.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): string => Buffer.from(s, 'ascii').toString('hex');

describe('wire codecs', () => {
  describe('gossip envelope (tags 4/5/6)', () => {
    it('is channel string, source uint64, payload []byte as consecutive gob singletons', () => {
      const bytes = encodeGossipEnvelope(ProtocolTag.Gossip, {
        channel: 'topology',
        source: 'ce:31:e0:06:45:1a',
        payload: Buffer.from([0xaa, 0xbb]),
      });
      // 0c = string (id 6), 06 = uint (id 3), 0a = []byte (id 5); each value preceded by the 00 singleton delta.
      const expected = hex(`0b 0c 00 08 ${ascii('topology')}
                            09 06 00 fa ce31e006451a
                            05 0a 00 02 aabb`);
      expect(bytes.toString('hex')).to.equal(expected.toString('hex'));
      expect(decodeGossipEnvelope(ProtocolTag.Gossip, bytes)).to.deep.equal({
        channel: 'topology',
        source: 'ce:31:e0:06:45:1a',
        payload: Buffer.from([0xaa, 0xbb]),
      });
    });

    it('carries a destination for unicast only', () => {
      const env = { channel: 'IPallocation', source: '00:00:00:00:00:7f', destination: 'ff:ff:ff:ff:ff:fe', payload: Buffer.from('x') };
      const bytes = encodeGossipEnvelope(ProtocolTag.GossipUnicast, env);
      expect(bytes.subarray(0, 16).toString('hex')).to.equal(`0f0c000c${ascii('IPallocation')}`);
      expect(bytes.subarray(16, 20).toString('hex')).to.equal('0306007f');
      expect(bytes.subarray(20, 30).toString('hex')).to.equal('090600fafffffffffffe');
      expect(decodeGossipEnvelope(ProtocolTag.GossipUnicast, bytes)).to.deep.equal(env);
      const broadcast = encodeGossipEnvelope(ProtocolTag.GossipBroadcast, env);
      const { destination: _unused, ...withoutDestination } = env;
      expect(decodeGossipEnvelope(ProtocolTag.GossipBroadcast, broadcast)).to.deep.equal(withoutDestination);
      expect(() => encodeGossipEnvelope(ProtocolTag.GossipUnicast, { ...env, destination: undefined })).to.throw(/destination/);
      expect(() => encodeGossipEnvelope(ProtocolTag.Heartbeat, env)).to.throw(/not a gossip/);
    });
  });

  describe('topology', () => {
    const peers: PeerSummary[] = [
      {
        name: 'ce:31:e0:06:45:1a',
        nickname: 'host1',
        uid: 0xfedcba9876543210n,
        version: 3,
        shortId: 0x123,
        hasShortId: true,
        connections: [],
      },
      {
        name: '00:00:00:00:00:01',
        nickname: '',
        uid: 1n,
        version: 0,
        shortId: 0,
        hasShortId: false,
        connections: [{ name: 'ce:31:e0:06:45:1a', remoteTcpAddr: '10.0.0.1:6783', outbound: true, established: false }],
      },
    ];

    // Derived by hand from the gob rules and Weave's peerSummary / connectionSummary declarations.
    const expected = hex(`
      62 ff81 03
         01 01 0b ${ascii('peerSummary')} 01 ff82 00
         01 06
           01 08 ${ascii('NameByte')} 01 0a 00
           01 08 ${ascii('NickName')} 01 0c 00
           01 03 ${ascii('UID')} 01 06 00
           01 07 ${ascii('Version')} 01 06 00
           01 07 ${ascii('ShortID')} 01 06 00
           01 0a ${ascii('HasShortID')} 01 02 00
         00 00
      24 ff82 01 06 ce31e006451a 01 05 ${ascii('host1')} 01 f8 fedcba9876543210 01 03 01 fe 0123 01 01 00
      0d ff85 02 01 02 ff86 00 01 ff84 00 00
      5b ff83 03
         01 01 11 ${ascii('connectionSummary')} 01 ff84 00
         01 04
           01 08 ${ascii('NameByte')} 01 0a 00
           01 0d ${ascii('RemoteTCPAddr')} 01 0c 00
           01 08 ${ascii('Outbound')} 01 02 00
           01 0b ${ascii('Established')} 01 02 00
         00 00
      04 ff86 00 00
      0d ff82 01 06 000000000001 02 01 00
      1e ff86 00 01 01 06 ce31e006451a 01 0d ${ascii('10.0.0.1:6783')} 01 01 00`);

    it('encodes peer summaries and their connection lists as Go would, definitions once per message', () => {
      expect(encodeTopology(peers).toString('hex')).to.equal(expected.toString('hex'));
    });

    it('decodes them back, with UIDs near 2^64 exact', () => {
      expect(decodeTopology(expected)).to.deep.equal(peers);
      expect(decodeTopology(Buffer.alloc(0))).to.deep.equal([]);
    });

    it('matches by field name: a sender with extra or reordered fields still decodes', () => {
      // A hypothetical newer sender: fields reordered, one extra, HasShortID absent.
      const body = hex(`
        ff81 03 01 01 0b ${ascii('peerSummary')} 01 ff82 00
        01 04
          01 05 ${ascii('Extra')} 01 0c 00
          01 03 ${ascii('UID')} 01 06 00
          01 08 ${ascii('NickName')} 01 0c 00
          01 08 ${ascii('NameByte')} 01 0a 00
        00 00`);
      const value = hex(`ff82 01 03 ${ascii('abc')} 01 05 01 04 ${ascii('nick')} 01 06 aabbccddeeff 00`);
      const conns = encodeTopology([{ ...peers[0]!, connections: [] }]).subarray(0x63 + 0x25);
      const payload = Buffer.concat([Buffer.from([body.length]), body, Buffer.from([value.length]), value, conns]);
      expect(decodeTopology(payload)).to.deep.equal([
        { name: 'aa:bb:cc:dd:ee:ff', nickname: 'nick', uid: 5n, version: 0, shortId: 0, hasShortId: false, connections: [] },
      ]);
    });

    it('uses a fresh encoder per message', () => {
      const a = encodeTopology([peers[0]!]);
      const b = encodeTopology([peers[0]!]);
      expect(a.equals(b)).to.equal(true);
      const dec = new GobDecoder();
      dec.push(a);
      expect(dec.decodeAny()).to.have.property('NickName', 'host1');
    });
  });
});
