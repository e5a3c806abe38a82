// The `nameserver` Gossiper: two peers exchanging over a fake channel that carries real payloads.
import { expect } from 'chai';
import { encodeNameserverGossip, NameserverGossipError } from '../../../dns/gossip-codec.ts';
import { GOSSIP_WINDOW_S, NameserverGossip, NameserverGossipData } from '../../../dns/nameserver-gossip.ts';
import { parseIpv4Addr as ip, type Entry } from '../../../dns/entry.ts';
import type { GossipChannelSender, GossipData } from '../../../router/mesh/contract.ts';
import type { PeerName } from '../../../common/peer-identity.ts';

const A = '0a:00:00:00:00:01';
const B = 'ce:31:e0:06:45:1a';
const STRANGER = '0a:00:00:00:00:99';

/** Delivers broadcasts to the other peers' onGossipBroadcast as encoded bytes. */
function connect(peers: Map<PeerName, NameserverGossip>): void {
  for (const [name, g] of peers) {
    const sender: GossipChannelSender = {
      gossipUnicast: () => undefined,
      gossipBroadcast: (update: GossipData) => {
        for (const [other, og] of peers) if (other !== name) for (const buf of update.encode()) og.onGossipBroadcast(name, buf);
      },
      gossipNeighbourSubset: () => undefined,
    };
    g.setSender(sender);
  }
}

describe('dns/nameserver gossip', () => {
  let clock = 1764300000;
  const now = (): number => clock;
  const known = new Set([A, B]);
  let a: NameserverGossip;
  let b: NameserverGossip;

  beforeEach(() => {
    clock = 1764300000;
    a = new NameserverGossip({ ourName: A, knownPeer: (p) => known.has(p), now });
    b = new NameserverGossip({ ourName: B, knownPeer: (p) => known.has(p), now });
    connect(
      new Map([
        [A, a],
        [B, b],
      ]),
    );
  });

  it('broadcasts a registration to the other peer', () => {
    a.addEntry('web.weave.local.', 'c1', ip('10.32.0.1'));
    expect(b.lookup('WEB.weave.local.').map((e) => e.addr)).to.deep.equal([ip('10.32.0.1')]);
    expect(b.lookup('web.weave.local.')[0]!.origin).to.equal(A);
  });

  it('registering a live entry again broadcasts nothing; re-registering a deleted one revives it', () => {
    let sent = 0;
    a.setSender({ gossipUnicast: () => undefined, gossipBroadcast: () => void sent++, gossipNeighbourSubset: () => undefined });
    a.addEntry('web.weave.local.', 'c1', ip('10.32.0.1'));
    a.addEntry('web.weave.local.', 'c1', ip('10.32.0.1'));
    expect(sent).to.equal(1);
    a.deleteEntries({ containerId: 'c1' });
    const revived = a.addEntry('web.weave.local.', 'c1', ip('10.32.0.1'));
    expect(sent).to.equal(3);
    expect(revived).to.include({ tombstone: 0, version: 2 });
  });

  it('propagates tombstones: container death removes the name everywhere', () => {
    a.addEntry('web.weave.local.', 'c1', ip('10.32.0.1'));
    a.addEntry('web.weave.local.', 'c2', ip('10.32.0.2'));
    clock += 5;
    expect(a.containerDied('c1')).to.have.length(1);
    expect(b.lookup('web.weave.local.').map((e) => e.containerId)).to.deep.equal(['c2']);
    const tomb = b.entries().find((e) => e.containerId === 'c1')!;
    expect(tomb).to.include({ version: 1, tombstone: clock });
    // a peer cannot delete what it does not own
    expect(b.deleteEntries({ containerId: 'c2' })).to.deep.equal([]);
    expect(a.lookup('web.weave.local.')).to.have.length(1);
  });

  it('periodic gossip: a late joiner catches up from gossip(), onGossip returns only news', () => {
    a.addEntry('x.weave.local.', 'c1', ip('10.0.0.1'));
    a.addEntry('y.weave.local.', 'c2', ip('10.0.0.2'));
    a.deleteEntries({ hostname: 'y.weave.local.' });
    const late = new NameserverGossip({ ourName: '0a:00:00:00:00:02', knownPeer: (p) => known.has(p), now });
    const full = a.gossip()!;
    const delta = late.onGossip(full.encode()[0]!) as NameserverGossipData;
    expect(delta.entries).to.have.length(2);
    expect(late.lookup('x.weave.local.')).to.have.length(1);
    expect(late.lookup('y.weave.local.')).to.deep.equal([]);
    expect(late.onGossip(full.encode()[0]!)).to.equal(undefined);
  });

  it('refuses gossip from a clock more than 900 s off, with an Error', () => {
    expect(GOSSIP_WINDOW_S).to.equal(900);
    const payload = (ts: number): Buffer => encodeNameserverGossip({ timestamp: ts, entries: [] });
    expect(() => b.onGossip(payload(clock + 901))).to.throw(Error, /clock skew of 901/);
    expect(() => b.onGossipBroadcast(A, payload(clock - 901))).to.throw(Error, /clock skew of -901/);
    expect(b.onGossip(payload(clock + 900))).to.equal(undefined);
  });

  it('ignores entries of peers not in the topology, and drops a departed peer’s entries', () => {
    const foreign: Entry = { hostname: 'evil.weave.local.', origin: STRANGER, containerId: 'z', addr: 1, version: 0, tombstone: 0 };
    const mine: Entry = { ...foreign, hostname: 'ok.weave.local.', origin: A };
    const out = b.onGossipBroadcast(A, encodeNameserverGossip({ timestamp: clock, entries: [foreign, mine] })) as NameserverGossipData;
    expect(b.lookup('evil.weave.local.')).to.deep.equal([]);
    expect(b.lookup('ok.weave.local.')).to.have.length(1);
    expect(out.entries.map((e) => e.hostname)).to.deep.equal(['ok.weave.local.']);
    b.peerGone(A);
    expect(b.lookup('ok.weave.local.')).to.deep.equal([]);
  });

  it('overrides stale copies of our own entries with version+1 and rebroadcasts', () => {
    a.addEntry('web.weave.local.', 'c1', ip('10.32.0.1'));
    // B somehow holds a newer tombstone for A's live entry (e.g. from an earlier run of A)
    const stale: Entry = { hostname: 'web.weave.local.', origin: A, containerId: 'c1', addr: ip('10.32.0.1'), version: 7, tombstone: clock - 10 };
    a.onGossip(encodeNameserverGossip({ timestamp: clock, entries: [stale] }));
    expect(a.lookup('web.weave.local.')[0]!.version).to.equal(8);
    expect(b.lookup('web.weave.local.')[0]!.version).to.equal(8);
  });

  it('refuses malformed payloads with an Error and leaves the table alone', () => {
    a.addEntry('web.weave.local.', 'c1', ip('10.32.0.1'));
    for (const bad of [Buffer.alloc(0), Buffer.from('deadbeef', 'hex'), Buffer.alloc(64, 0xff)]) {
      expect(() => b.onGossip(bad)).to.throw(NameserverGossipError);
      expect(() => b.onGossipBroadcast(A, bad)).to.throw(NameserverGossipError);
    }
    expect(b.entries()).to.have.length(1);
  });

  it('GossipData merge keeps the newer version of each entry and the later timestamp', () => {
    const e: Entry = { hostname: 'h', origin: A, containerId: 'c', addr: 1, version: 1, tombstone: 0 };
    const m = new NameserverGossipData(10, [e]).merge(new NameserverGossipData(20, [{ ...e, version: 2, tombstone: 15 }, { ...e, hostname: 'i' }])) as NameserverGossipData;
    expect(m.timestamp).to.equal(20);
    expect(m.entries.map((x) => `${x.hostname}:${x.version}`)).to.deep.equal(['h:2', 'i:1']);
  });

  it('purges old tombstones on its timer between start() and stop()', async () => {
    const g = new NameserverGossip({ ourName: A, knownPeer: () => true, now, purgeIntervalMs: 10 });
    g.addEntry('h', 'c', 1);
    g.containerDied('c');
    clock += 1801;
    g.start();
    await new Promise((r) => setTimeout(r, 50));
    g.stop();
    expect(g.entries()).to.deep.equal([]);
  });
});
