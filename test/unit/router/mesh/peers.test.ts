import { expect } from 'chai';
import { silentLogger } from '../../../../common/logger.ts';
import type { LocalIdentity, PeerSummary } from '../../../../router/mesh/contract.ts';
import { LocalPeer } from '../../../../router/mesh/local-peer.ts';
import { Peer } from '../../../../router/mesh/peer.ts';
import { Peers } from '../../../../router/mesh/peers.ts';
import { FakeClock, sequenceRandom } from './fake-clock.ts';
import { memoryConnectionPair } from './memory-connection.ts';

const A = '00:00:00:00:00:0a';
const B = '00:00:00:00:00:0b';
const C = '00:00:00:00:00:0c';
const D = '00:00:00:00:00:0d';

function ident(name: string, shortId = 1, uid = 7n): LocalIdentity {
  return { name, nickname: `n-${name.slice(-2)}`, uid, shortId };
}

function summary(name: string, over: Partial<PeerSummary> = {}): PeerSummary {
  return { name, nickname: `n-${name.slice(-2)}`, uid: 100n, version: 5, shortId: 0, hasShortId: false, connections: [], ...over };
}

function conn(name: string, established = true, outbound = true) {
  return { name, remoteTcpAddr: `10.0.0.${parseInt(name.slice(-2), 16)}:6783`, outbound, established };
}

describe('mesh peer table', () => {
  let clock: FakeClock;
  let peers: Peers;
  let ourself: LocalPeer;

  function make(id: LocalIdentity = ident(B, 100), random = sequenceRandom([0.5])): void {
    clock = new FakeClock();
    ourself = new LocalPeer(id);
    peers = new Peers({ ourself, clock, random, logger: silentLogger() });
  }

  beforeEach(() => make());
  afterEach(() => peers.stop());

  describe('merge rules', () => {
    it('adds unknown peers, with placeholders for names seen only as connection ends', () => {
      const r = peers.applyUpdate([summary(C, { connections: [conn(D)] })]);
      expect([...r.received]).to.deep.equal([C]);
      expect([...r.improved]).to.deep.equal([C]);
      expect(peers.get(C)?.version).to.equal(5);
      expect(peers.get(C)?.connections.get(D)?.established).to.equal(true);
      const d = peers.get(D)!;
      expect([d.uid, d.version, d.nickname, d.hasShortId]).to.deep.equal([0n, 0, '', false]);
    });

    it('applies a higher version and ignores a lower one', () => {
      peers.applyUpdate([summary(C, { version: 5 })]);
      expect([...peers.applyUpdate([summary(C, { version: 4, nickname: 'old' })]).improved]).to.deep.equal([]);
      expect(peers.get(C)?.nickname).to.equal('n-0c');
      expect([...peers.applyUpdate([summary(C, { version: 6, nickname: 'new', connections: [conn(A)] })]).improved]).to.deep.equal([C]);
      expect(peers.get(C)?.nickname).to.equal('new');
      expect([...peers.get(C)!.connections.keys()]).to.deep.equal([A]);
    });

    it('at the same version takes the higher UID only', () => {
      peers.applyUpdate([summary(C, { uid: 100n })]);
      expect([...peers.applyUpdate([summary(C, { uid: 99n, nickname: 'x' })]).improved]).to.deep.equal([]);
      expect([...peers.applyUpdate([summary(C, { uid: 101n, nickname: 'y' })]).improved]).to.deep.equal([C]);
      expect(peers.get(C)?.uid).to.equal(101n);
    });

    it('at the same version and UID takes an update newly carrying a short ID, once', () => {
      peers.applyUpdate([summary(C)]);
      expect([...peers.applyUpdate([summary(C)]).improved]).to.deep.equal([]);
      expect([...peers.applyUpdate([summary(C, { shortId: 9, hasShortId: true })]).improved]).to.deep.equal([C]);
      expect(peers.getByShortId(9)?.name).to.equal(C);
      expect([...peers.applyUpdate([summary(C, { shortId: 9, hasShortId: true })]).improved]).to.deep.equal([]);
    });

    it('news of another incarnation of ourselves pushes our version beyond it', () => {
      let modified = 0;
      peers.onLocalPeerModified(() => modified++);
      const r = peers.applyUpdate([summary(B, { uid: 1n, version: 40 })]);
      expect([...r.improved]).to.deep.equal([]);
      expect(ourself.version).to.equal(41);
      expect(ourself.uid).to.equal(7n);
      expect(modified).to.equal(1);
      peers.applyUpdate([summary(B, { uid: 7n, version: 90 })]);
      expect(ourself.version, 'our own UID: no change').to.equal(41);
    });
  });

  describe('short IDs', () => {
    it('a lower-named peer claiming our short ID makes us pick another and bump our version', () => {
      let invalidations = 0;
      peers.onShortIdsInvalidated(() => invalidations++);
      const before = ourself.version;
      peers.applyUpdate([summary(A, { shortId: 100, hasShortId: true })]);
      expect(peers.getByShortId(100)?.name).to.equal(A);
      expect(ourself.shortId).to.equal(2048); // 0.5 * 4096 from the injected random
      expect(ourself.version).to.equal(before + 1);
      expect(peers.getByShortId(2048)?.name).to.equal(B);
      expect(invalidations).to.be.greaterThan(0);
    });

    it('a higher-named peer with our short ID leaves us alone', () => {
      peers.applyUpdate([summary(C, { shortId: 100, hasShortId: true })]);
      expect(ourself.shortId).to.equal(100);
      expect(peers.getByShortId(100)?.name).to.equal(B);
    });

    it('the next-lowest claimant takes over when the owner goes away', () => {
      make(ident(A, 100));
      peers.applyUpdate([summary(D, { shortId: 5, hasShortId: true }), summary(C, { shortId: 5, hasShortId: true })]);
      expect(peers.getByShortId(5)?.name).to.equal(C);
      let invalidations = 0;
      peers.onShortIdsInvalidated(() => invalidations++);
      // nobody is connected to C or D, but D is held locally: only C is collected
      peers.fetchAndAddRef(D);
      clock.advance(1000);
      expect(peers.get(C)).to.equal(undefined);
      expect(peers.getByShortId(5)?.name).to.equal(D);
      expect(invalidations).to.equal(1);
    });
  });

  describe('our connections', () => {
    it('bumps the version on add, establish and delete', () => {
      const [conn1] = memoryConnectionPair(ident(B), ident(C));
      const v = ourself.version;
      expect(ourself.addConnection(conn1, 200)).to.deep.equal({});
      expect(ourself.version).to.equal(v + 1);
      expect(ourself.markEstablished(conn1)).to.equal(true);
      expect(ourself.markEstablished(conn1)).to.equal(false);
      expect(ourself.version).to.equal(v + 2);
      expect(ourself.summary().connections).to.deep.equal([{ name: C, remoteTcpAddr: '10.0.0.2:6783', outbound: true, established: true }]);
      expect(ourself.deleteConnection(conn1)).to.equal(true);
      expect(ourself.deleteConnection(conn1)).to.equal(false);
      expect(ourself.version).to.equal(v + 3);
    });

    it('duplicate connections: the lower connUid wins whichever came first', () => {
      const [low] = memoryConnectionPair(ident(B), ident(C), { connUid: 5n });
      const [high] = memoryConnectionPair(ident(B), ident(C), { connUid: 9n });
      ourself.addConnection(low, 200);
      const r1 = ourself.addConnection(high, 200);
      expect(r1.refused?.kind).to.equal('duplicate');
      expect(r1.displaced).to.equal(undefined);
      expect(ourself.connectionTo(C)).to.equal(low);

      make();
      ourself.addConnection(high, 200);
      const r2 = ourself.addConnection(low, 200);
      expect(r2.refused).to.equal(undefined);
      expect(r2.displaced).to.equal(high);
      expect(ourself.connectionTo(C)).to.equal(low);
    });

    it('duplicate connections with equal connUid: both dropped', () => {
      const [one] = memoryConnectionPair(ident(B), ident(C), { connUid: 5n });
      const [two] = memoryConnectionPair(ident(B), ident(C), { connUid: 5n });
      ourself.addConnection(one, 200);
      const r = ourself.addConnection(two, 200);
      expect(r.refused?.kind).to.equal('duplicate');
      expect(r.displaced).to.equal(one);
      expect(ourself.connectionTo(C)).to.equal(undefined);
    });

    it('enforces the connection limit (0 = unlimited)', () => {
      ourself.addConnection(memoryConnectionPair(ident(B), ident(C))[0], 2);
      ourself.addConnection(memoryConnectionPair(ident(B), ident(D))[0], 2);
      const r = ourself.addConnection(memoryConnectionPair(ident(B), ident(A))[0], 2);
      expect(r.refused?.message).to.equal('Connection limit reached (2)');
      expect(ourself.addConnection(memoryConnectionPair(ident(B), ident(A))[0], 0).refused).to.equal(undefined);
    });
  });

  describe('garbage collection', () => {
    it('removes unreachable, unreferenced peers one debounced second after an update', () => {
      const removed: string[] = [];
      peers.onPeerRemoved((p) => removed.push(p.name));
      // We (B) are connected to C; C to D; A is only known from an old update.
      const [toC] = memoryConnectionPair(ident(B), ident(C));
      const c = peers.fetchWithDefault(new Peer(C, 'c', 100n, 1, 0, false));
      ourself.addConnection(toC, 200);
      peers.applyUpdate([summary(C, { version: 6, connections: [conn(B), conn(D)] }), summary(A, { connections: [] })]);
      clock.advance(999);
      expect(removed).to.deep.equal([]);
      peers.applyUpdate([summary(D, { connections: [conn(C)] })]);
      clock.advance(1);
      expect(removed).to.deep.equal([A]);
      expect(peers.names()).to.deep.equal(new Set([A, B, C, D].filter((n) => n !== A)));

      // C drops D: D becomes unreachable and goes too.
      peers.applyUpdate([summary(C, { version: 7, connections: [conn(B)] })]);
      clock.advance(1000);
      expect(removed).to.deep.equal([A, D]);

      // a referenced peer stays even when unreachable
      ourself.deleteConnection(toC);
      peers.scheduleGC();
      clock.advance(1000);
      expect(peers.get(C)).to.equal(c);
      peers.dereference(c);
      peers.scheduleGC();
      clock.advance(1000);
      expect(removed).to.deep.equal([A, D, C]);
    });
  });

  it('encodes summaries in name order, ourselves included', () => {
    peers.applyUpdate([summary(C), summary(A)]);
    expect(peers.encode().map((s) => s.name)).to.deep.equal([A, B, C]);
    expect(peers.encode([C, 'ff:ff:ff:ff:ff:ff']).map((s) => s.name)).to.deep.equal([C]);
  });
});
