import { expect } from 'chai';
import { Peer } from '../../../../router/mesh/peer.ts';
import { Routes, breadthFirst, broadcastHops, unicastTable } from '../../../../router/mesh/routes.ts';
import { FakeClock, sequenceRandom } from './fake-clock.ts';

const A = '00:00:00:00:00:0a';
const B = '00:00:00:00:00:0b';
const C = '00:00:00:00:00:0c';
const D = '00:00:00:00:00:0d';
const E = '00:00:00:00:00:0e';

type Topology = Map<string, Peer>;

/** Build peers from undirected edges, each reported established at both ends unless listed
 *  in `oneSided` ("X>Y": only X reports the connection) or `pending` ("X>Y": X reports it as
 *  not established). */
function topology(edges: [string, string][], opts: { oneSided?: string[]; pending?: string[] } = {}): Topology {
  const peers: Topology = new Map();
  const get = (n: string): Peer => {
    let p = peers.get(n);
    if (!p) {
      p = new Peer(n, n.slice(-1), 1n, 1, 0, false);
      peers.set(n, p);
    }
    return p;
  };
  const link = (from: string, to: string): void => {
    if (opts.oneSided?.includes(`${to}>${from}`)) return;
    const established = !opts.pending?.includes(`${from}>${to}`);
    get(from).connections.set(to, { remote: to, remoteTcpAddr: `${to}:6783`, outbound: from < to, established });
    get(to);
  };
  for (const [x, y] of edges) {
    link(x, y);
    link(y, x);
  }
  return peers;
}

function routesAt(t: Topology, me: string) {
  const lookup = (n: string) => t.get(n);
  const self = t.get(me)!;
  return {
    unicast: Object.fromEntries(unicastTable(self, lookup, true)),
    unicastAll: Object.fromEntries(unicastTable(self, lookup, false)),
    broadcast: (src: string) => broadcastHops(self, t.get(src), lookup, true),
  };
}

describe('mesh routes', () => {
  describe('a line A–B–C–D', () => {
    const t = topology([
      [A, B],
      [B, C],
      [C, D],
    ]);
    it('unicast: everything via the one neighbour', () => {
      expect(routesAt(t, A).unicast).to.deep.equal({ [B]: B, [C]: B, [D]: B });
      expect(routesAt(t, B).unicast).to.deep.equal({ [A]: A, [C]: C, [D]: C });
    });
    it('broadcast: passed along away from the source', () => {
      expect(routesAt(t, A).broadcast(A)).to.deep.equal([B]);
      expect(routesAt(t, B).broadcast(A)).to.deep.equal([C]);
      expect(routesAt(t, C).broadcast(A)).to.deep.equal([D]);
      expect(routesAt(t, D).broadcast(A)).to.deep.equal([]);
      expect(routesAt(t, B).broadcast(D)).to.deep.equal([A]);
      expect(routesAt(t, B).broadcast(B)).to.deep.equal([A, C]);
    });
  });

  describe('a triangle A, B, C', () => {
    const t = topology([
      [A, B],
      [B, C],
      [A, C],
    ]);
    it('unicast: direct', () => {
      expect(routesAt(t, A).unicast).to.deep.equal({ [B]: B, [C]: C });
    });
    it('broadcast: the source reaches both, nobody relays', () => {
      expect(routesAt(t, A).broadcast(A)).to.deep.equal([B, C]);
      expect(routesAt(t, A).broadcast(B)).to.deep.equal([]);
      expect(routesAt(t, C).broadcast(B)).to.deep.equal([]);
    });
  });

  describe('a square A–B–C–D–A with the diagonal A–C', () => {
    const t = topology([
      [A, B],
      [B, C],
      [C, D],
      [D, A],
      [A, C],
    ]);
    it('unicast: ties at a level go through the lower-named peer', () => {
      expect(routesAt(t, B).unicast).to.deep.equal({ [A]: A, [C]: C, [D]: A });
      expect(routesAt(t, D).unicast).to.deep.equal({ [A]: A, [C]: C, [B]: A });
      expect(routesAt(t, A).unicast).to.deep.equal({ [B]: B, [C]: C, [D]: D });
    });
    it('broadcast: each peer receives each source exactly once', () => {
      const all = [A, B, C, D];
      expect(routesAt(t, A).broadcast(B)).to.deep.equal([D]);
      expect(routesAt(t, C).broadcast(B)).to.deep.equal([]);
      expect(routesAt(t, D).broadcast(B)).to.deep.equal([]);
      expect(routesAt(t, A).broadcast(D)).to.deep.equal([B]);
      expect(routesAt(t, C).broadcast(D)).to.deep.equal([]);
      for (const src of all) {
        const received = new Map<string, number>(all.map((p) => [p, 0]));
        // simulate: the source sends to its hops; each receiver forwards per its own table
        const queue = routesAt(t, src).broadcast(src);
        while (queue.length > 0) {
          const at = queue.shift()!;
          received.set(at, received.get(at)! + 1);
          queue.push(...routesAt(t, at).broadcast(src));
        }
        for (const p of all) expect(received.get(p), `${p} from ${src}`).to.equal(p === src ? 0 : 1);
      }
    });
  });

  it('the data plane only uses connections established at both ends; gossip uses all', () => {
    const t = topology(
      [
        [A, B],
        [B, C],
        [C, D],
      ],
      { oneSided: [`${B}>${C}`], pending: [`${C}>${D}`] },
    );
    const r = routesAt(t, A);
    expect(r.unicast).to.deep.equal({ [B]: B });
    expect(r.unicastAll).to.deep.equal({ [B]: B, [C]: B, [D]: B });
  });

  it('a search stops where asked and reports whether it got there', () => {
    const t = topology([[A, B]]);
    t.set(E, new Peer(E, 'e', 1n, 1, 0, false));
    const lookup = (n: string) => t.get(n);
    expect(breadthFirst(t.get(A)!, lookup, true, t.get(E)).found).to.equal(false);
    expect(broadcastHops(t.get(A)!, t.get(E), lookup, true)).to.deep.equal([]);
  });

  describe('Routes', () => {
    it('coalesces recalculation for 100 ms, notifies on change and caches broadcast routes', () => {
      const t = topology([[A, B]]);
      const clock = new FakeClock();
      const routes = new Routes({ ourself: t.get(A)!, lookup: (n) => t.get(n), clock });
      let changes = 0;
      routes.onChange(() => changes++);
      expect(routes.unicastNextHop(B)).to.equal(B);
      expect(routes.broadcastNextHops(B)).to.deep.equal([]);
      const more = topology([
        [A, B],
        [B, C],
      ]);
      t.set(C, more.get(C)!);
      t.get(B)!.connections = more.get(B)!.connections;
      routes.recalculate();
      routes.recalculate();
      clock.advance(99);
      expect(routes.unicastNextHop(C)).to.equal(undefined);
      clock.advance(1);
      expect(routes.unicastNextHop(C)).to.equal(B);
      expect(changes).to.equal(1);
      routes.recalculate();
      clock.advance(100);
      expect(changes, 'nothing changed').to.equal(1);
      routes.stop();
    });

    it('random neighbours: at most 2·log2(n), weighted by routed destinations, never the excluded one', () => {
      // A's neighbours: B (behind it C, D, E) and E? no: a star with a tail.
      const t = topology([
        [A, B],
        [A, C],
        [B, D],
        [D, E],
      ]);
      const clock = new FakeClock();
      // n = 5 peers → ⌊2·log2 5⌋ = 4 ≥ 2 neighbours: both
      const routes = new Routes({ ourself: t.get(A)!, lookup: (n) => t.get(n), clock, random: sequenceRandom([0.9]) });
      expect(routes.randomNeighbours()).to.deep.equal([B, C]);
      expect(routes.randomNeighbours(B)).to.deep.equal([C]);

      // two peers: ⌊2·log2 2⌋ = 2 → the only neighbour
      const pair = topology([[A, B]]);
      const r2 = new Routes({ ourself: pair.get(A)!, lookup: (n) => pair.get(n), clock });
      expect(r2.randomNeighbours()).to.deep.equal([B]);
      expect(r2.randomNeighbours(B)).to.deep.equal([]);
    });

    it('random neighbours: weights follow the unicast table', () => {
      // A has 8 neighbours; the last one also leads to one more peer. n = 10 → ⌊2·log2 10⌋ = 6.
      const ns = ['01', '02', '03', '04', '05', '06', '07', '08'].map((x) => `00:00:00:00:01:${x}`);
      const tail = '00:00:00:00:02:01';
      const edges: [string, string][] = ns.map((n) => [A, n]);
      edges.push([ns[7]!, tail]);
      const t = topology(edges);
      const clock = new FakeClock();
      // weights: 1 each, 2 for the last (9 in all); 0.85·9 = 7.65 falls in the last one's share
      // (with equal weights it would pick the seventh); then five draws of 0 take the first.
      const routes = new Routes({ ourself: t.get(A)!, lookup: (n) => t.get(n), clock, random: sequenceRandom([0.85, 0, 0, 0, 0, 0]) });
      expect(routes.randomNeighbours()).to.deep.equal([...ns.slice(0, 5), ns[7]]);
    });
  });
});
