import { expect } from 'chai';
import { TokenBucket } from '../../../../router/mesh/token-bucket.ts';
import { FakeClock } from './fake-clock.ts';

describe('mesh accept rate limit', () => {
  it('allows a burst of 20, then one per 50 ms, never saving up more than 20', () => {
    const clock = new FakeClock(0);
    const bucket = new TokenBucket(clock);
    let ok = 0;
    for (let i = 0; i < 25; i++) if (bucket.tryTake()) ok++;
    expect(ok).to.equal(20);
    clock.advance(49);
    expect(bucket.tryTake()).to.equal(false);
    clock.advance(1);
    expect(bucket.tryTake()).to.equal(true);
    expect(bucket.tryTake()).to.equal(false);
    clock.advance(125); // 2.5 tokens' worth: two now, the half carries over
    expect([bucket.tryTake(), bucket.tryTake(), bucket.tryTake()]).to.deep.equal([true, true, false]);
    clock.advance(25);
    expect(bucket.tryTake()).to.equal(true);
    clock.advance(60_000);
    ok = 0;
    for (let i = 0; i < 25; i++) if (bucket.tryTake()) ok++;
    expect(ok).to.equal(20);
  });
});
