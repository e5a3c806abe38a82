// Gossip on channels nobody here owns is relayed through stand-ins; a neighbour naming new
// channels without end must not grow them without end (found by test/fuzz: every made-up
// channel name stayed for the life of the process, names up to the 10 MiB frame limit).
import { expect } from 'chai';
import { silentLogger } from '../../../../common/logger.ts';
import type { GossipData, Gossiper, MeshConnection } from '../../../../router/mesh/contract.ts';
import { ProtocolTag } from '../../../../router/mesh/contract.ts';
import { Gossip, MAX_SURROGATE_CHANNELS, MAX_SURROGATE_NAME } from '../../../../router/mesh/gossip.ts';
import type { GossipTransport } from '../../../../router/mesh/gossip-channel.ts';
import { encodeGossipEnvelope, gossipEnvelopeCodec } from '../../../../router/mesh/gossip-codec.ts';
import { FakeClock } from './fake-clock.ts';

const US = '00:00:00:00:00:01';
const THEM = '00:00:00:00:00:02';
const OTHER = '00:00:00:00:00:03';

describe('Gossip: channels we only relay', () => {
  /** What went out to OTHER, by channel. */
  let relayed: string[];
  let gossip: Gossip;
  const from = { remote: { name: THEM } } as unknown as MeshConnection;

  beforeEach(() => {
    relayed = [];
    const toOther = {
      remote: { name: OTHER },
      send: (tag: number, payload: Buffer) => relayed.push(gossipEnvelopeCodec.decode(tag, payload).channel),
    } as unknown as MeshConnection;
    const transport: GossipTransport = {
      ourName: US,
      codec: gossipEnvelopeCodec,
      clock: new FakeClock(),
      logger: silentLogger(),
      connectionTo: (name) => (name === OTHER ? toOther : undefined),
      unicastAll: () => undefined,
      broadcastAll: () => [OTHER],
      randomNeighbours: (except) => [THEM, OTHER].filter((n) => n !== except),
    };
    gossip = new Gossip(transport, { coalesceMs: 0 });
  });

  const broadcast = (channel: string, payload = Buffer.from([1])): void =>
    gossip.handle(from, ProtocolTag.GossipBroadcast, encodeGossipEnvelope(ProtocolTag.GossipBroadcast, { channel, source: THEM, payload }));

  it('keeps at most MAX_SURROGATE_CHANNELS of them, forgetting the least recently used', () => {
    broadcast('svc-kept');
    for (let i = 0; i < 10 * MAX_SURROGATE_CHANNELS; i++) {
      broadcast(`fz-${i}`);
      if (i % 8 === 0) broadcast('svc-kept'); // in use all along
    }
    const names = gossip.channelNames();
    expect(names).to.have.length(MAX_SURROGATE_CHANNELS);
    expect(names).to.include('svc-kept');
    expect(names).to.include(`fz-${10 * MAX_SURROGATE_CHANNELS - 1}`);
    expect(names).not.to.include('fz-0');
    // still relayed, evicted or not
    relayed = [];
    broadcast('fz-0');
    broadcast('svc-kept');
    expect(relayed).to.deep.equal(['fz-0', 'svc-kept']);
  });

  it('drops gossip on channels with names longer than any service has', () => {
    broadcast('x'.repeat(MAX_SURROGATE_NAME + 1));
    broadcast('y'.repeat(1 << 20));
    expect(gossip.channelNames()).to.deep.equal([]);
    expect(relayed).to.deep.equal([]);
    broadcast('x'.repeat(MAX_SURROGATE_NAME));
    expect(gossip.channelNames()).to.have.length(1);
  });

  it('never forgets a channel that has an owner', () => {
    const owner: Gossiper = {
      gossip: () => undefined,
      onGossip: () => undefined,
      onGossipBroadcast: (): GossipData | undefined => undefined,
      onGossipUnicast: () => undefined,
    };
    gossip.addChannel('owned', owner);
    for (let i = 0; i < 3 * MAX_SURROGATE_CHANNELS; i++) broadcast(`fz-${i}`);
    expect(gossip.channelNames()).to.include('owned');
    expect(gossip.channelNames()).to.have.length(MAX_SURROGATE_CHANNELS + 1);
    // a surrogate replaced by its owner no longer counts as one
    gossip.addChannel(`fz-${3 * MAX_SURROGATE_CHANNELS - 1}`, owner);
    broadcast('fz-new');
    expect(gossip.channelNames()).to.have.length(MAX_SURROGATE_CHANNELS + 2);
  });
});
