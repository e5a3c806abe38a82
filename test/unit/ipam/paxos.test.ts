import { expect } from 'chai';
import { PaxosNode } from '../../../ipam/paxos.ts';

/** N Paxos nodes gossiping their whole state to random others, with message loss; returns the
 *  values each node saw agreed and the number of rounds it took. */
function simulate(n: number, quorum: number, loss: number, seed: number, proposers = n): { agreed: (string[] | undefined)[]; rounds: number } {
  let s = seed;
  const random = (): number => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  const nodes = Array.from({ length: n }, (_, i) => new PaxosNode({ name: `0a:00:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`, uid: BigInt(i + 1) }, quorum));
  for (let i = 0; i < proposers; i++) nodes[i]!.propose();
  let rounds = 0;
  for (; rounds < 500 && nodes.some((x) => x.consensus() === undefined); rounds++) {
    for (const from of nodes) {
      for (const to of nodes) {
        if (to === from || random() < loss) continue;
        if (to.update(from.state())) to.think();
      }
    }
    // proposers retry now and then, as the allocator does every few seconds
    if (rounds % 10 === 9) for (let i = 0; i < proposers; i++) if (nodes[i]!.consensus() === undefined) nodes[i]!.propose();
  }
  return { agreed: nodes.map((x) => x.consensus()), rounds };
}

describe('ipam/PaxosNode', () => {
  it('a quorum of one agrees on its own at once', () => {
    const node = new PaxosNode({ name: '0a:00:00:00:00:01', uid: 1n }, 1);
    node.propose();
    expect(node.consensus()).to.deep.equal(['0a:00:00:00:00:01']);
  });

  it('does not agree below quorum', () => {
    const node = new PaxosNode({ name: '0a:00:00:00:00:01', uid: 1n }, 2);
    node.propose();
    expect(node.consensus()).to.equal(undefined);
  });

  for (const [n, loss] of [
    [3, 0],
    [5, 0],
    [3, 0.3],
    [7, 0.5],
  ] as const) {
    it(`${n} competing proposers agree on one value (loss ${loss * 100}%)`, () => {
      for (let seed = 1; seed <= 20; seed++) {
        const { agreed } = simulate(n, Math.floor(n / 2) + 1, loss, seed);
        const values = new Set(agreed.map((v) => JSON.stringify(v)));
        expect(values.size, `seed ${seed}: ${[...values].join(' | ')}`).to.equal(1);
        expect(agreed[0]!.length).to.be.at.least(Math.floor(n / 2) + 1);
      }
    });
  }

  it('acceptors that never propose still help a single proposer to a consensus', () => {
    const { agreed } = simulate(5, 3, 0.2, 7, 1);
    expect(new Set(agreed.map((v) => JSON.stringify(v))).size).to.equal(1);
    expect(agreed[0]).to.not.equal(undefined);
  });
});
