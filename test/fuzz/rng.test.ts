// The fuzz suite's replay promise rests on this: one seed, one sequence, for every input alone.
import { expect } from 'chai';
import { DEFAULT_SEED, fuzzSeed, Rng } from './gen/rng.ts';

describe('fuzz: seeded generator', () => {
  it('gives the same sequence for the same seed and another for another seed', () => {
    const draw = (seed: number) => {
      const r = new Rng(seed);
      return Array.from({ length: 50 }, (_, i) => [r.int(1 << 30), Rng.forInput(seed, 'plugin', i).int(1 << 30)]);
    };
    expect(draw(1)).to.deep.equal(draw(1));
    expect(draw(1)).to.not.deep.equal(draw(2));
  });

  it('rebuilds one input alone, independent of the inputs drawn before it', () => {
    const a = Rng.forInput(7, 'tcp', 123).bytes(64);
    for (let i = 0; i < 123; i++) Rng.forInput(7, 'tcp', i).bytes(64);
    expect(Rng.forInput(7, 'tcp', 123).bytes(64)).to.deep.equal(a);
    expect(Rng.forInput(7, 'udp', 123).bytes(64)).to.not.deep.equal(a);
  });

  it('spreads values over the whole range', () => {
    const r = new Rng(DEFAULT_SEED);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) counts[r.int(10)]!++;
    for (const c of counts) expect(c).to.be.within(800, 1200);
  });

  it('takes the seed from WEAVE_FUZZ_SEED, else the fixed default, and refuses junk', () => {
    expect(fuzzSeed({})).to.equal(DEFAULT_SEED);
    expect(fuzzSeed({ WEAVE_FUZZ_SEED: '0x10' })).to.equal(16);
    expect(fuzzSeed({ WEAVE_FUZZ_SEED: '42' })).to.equal(42);
    expect(() => fuzzSeed({ WEAVE_FUZZ_SEED: 'abc' })).to.throw(/WEAVE_FUZZ_SEED/);
  });
});
