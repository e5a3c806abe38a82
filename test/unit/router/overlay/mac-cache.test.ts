import { expect } from 'chai';
import { MacAdd, MacCache, macFromString, macToString } from '../../../../router/overlay/mac-cache.ts';

const P1 = '02:00:00:00:00:01';
const P2 = '02:00:00:00:00:02';
const M = macFromString('0a:58:0a:20:00:02');
const MIN = 60_000;

describe('MacCache', function () {
  let t: number;
  let expired: string[];
  let cache: MacCache;
  beforeEach(function () {
    t = 1_000_000;
    expired = [];
    cache = new MacCache({ now: () => t, onExpiry: (mac, peer) => expired.push(`${macToString(mac)}@${peer}`) });
  });

  it('converts MAC text and numbers', function () {
    expect(M).to.equal(0x0a580a200002);
    expect(macToString(M)).to.equal('0a:58:0a:20:00:02');
    expect(() => macFromString('0a:58')).to.throw();
  });

  it('learns, looks up, and reports a conflicting peer without moving the entry', function () {
    expect(cache.add(M, P1)).to.equal(MacAdd.New);
    expect(cache.add(M, P1)).to.equal(MacAdd.Known);
    expect(cache.add(M, P2)).to.equal(MacAdd.Conflict);
    expect(cache.lookup(M)).to.equal(P1);
    expect(cache.lookup(M + 1)).to.equal(undefined);
  });

  it('addForced moves a MAC to the new peer', function () {
    cache.add(M, P1);
    expect(cache.addForced(M, P2)).to.equal(MacAdd.Conflict);
    expect(cache.lookup(M)).to.equal(P2);
    expect(cache.addForced(M, P2)).to.equal(MacAdd.Known);
  });

  it('expires entries after 10 minutes without traffic; traffic refreshes at most once a minute', function () {
    cache.add(M, P1);
    cache.add(M + 1, P2);
    t += 30_000;
    cache.add(M, P1); // under a minute: not refreshed
    t += 9 * MIN + 31_000; // 10 min + 1 s after learning
    cache.expire();
    expect(expired.sort()).to.deep.equal(['0a:58:0a:20:00:02@' + P1, '0a:58:0a:20:00:03@' + P2]);
    expect(cache.size).to.equal(0);

    cache.add(M, P1);
    t += 2 * MIN;
    cache.add(M, P1); // refreshed: more than a minute since last seen
    t += 9 * MIN;
    cache.expire();
    expect(cache.lookup(M)).to.equal(P1);
    t += 1 * MIN + 1;
    cache.expire();
    expect(cache.lookup(M)).to.equal(undefined);
  });

  it('drops all MACs of a removed peer', function () {
    cache.add(M, P1);
    cache.add(M + 1, P1);
    cache.add(M + 2, P2);
    expect(cache.deletePeer(P1)).to.equal(true);
    expect(cache.deletePeer(P1)).to.equal(false);
    expect(cache.entries().map((e) => e.peer)).to.deep.equal([P2]);
  });

  it('start/stop run an unref\'d sweep timer', function () {
    const real = new MacCache({ maxAgeMs: 50 });
    real.add(M, P1);
    real.start();
    real.start();
    return new Promise<void>((resolve) => setTimeout(resolve, 120)).then(() => {
      real.stop();
      expect(real.size).to.equal(0);
    });
  });
});
