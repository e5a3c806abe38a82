// The chaos suite's replay promise: one seed, one sequence of choices.
import { expect } from 'chai';
import { SEED_ENV, SeededRandom } from './seeded-random.ts';

describe('chaos: SeededRandom', () => {
  it('gives the same sequence for the same seed, another for another seed', () => {
    const draw = (seed: number): number[] => {
      const r = new SeededRandom(seed);
      return [r.next(), r.int(0, 1000), r.pick(['a', 'b', 'c']), ...r.shuffle([1, 2, 3, 4, 5])].map(Number).filter((n) => !Number.isNaN(n));
    };
    expect(draw(4711)).to.deep.equal(draw(4711));
    expect(draw(4711)).to.not.deep.equal(draw(4712));
  });

  it('stays in range', () => {
    const r = new SeededRandom(1);
    for (let i = 0; i < 1000; i++) {
      const x = r.next();
      expect(x).to.be.at.least(0).and.below(1);
      expect(r.int(3, 5)).to.be.oneOf([3, 4, 5]);
    }
    expect(r.shuffle([1, 2, 3, 4]).sort()).to.deep.equal([1, 2, 3, 4]);
  });

  it(`takes the seed from ${SEED_ENV}, refusing what is not a 32-bit unsigned integer`, () => {
    expect(SeededRandom.fromEnv({ [SEED_ENV]: '123' }).seed).to.equal(123);
    expect(SeededRandom.fromEnv({}).seed).to.be.within(0, 2 ** 32 - 1);
    for (const bad of ['-1', '1.5', 'abc', String(2 ** 32)]) expect(() => SeededRandom.fromEnv({ [SEED_ENV]: bad }), bad).to.throw(SEED_ENV);
  });
});
