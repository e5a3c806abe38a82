import { expect } from 'chai';
import { biggestAlignedBlock } from '../../../ipam/address-range.ts';
import { parseIpv4 } from '../../../common/ipv4.ts';
import { DifferentRangeError, DifferentSeedsError, Ring, RingMergeError, TAKEOVER_VERSION_BUMP, type RingData } from '../../../ipam/ring.ts';

const A = '0a:00:00:00:00:01';
const B = '0a:00:00:00:00:02';
const C = '0a:00:00:00:00:03';
const START = parseIpv4('10.0.0.0');
const END = parseIpv4('10.0.1.0'); // 256 addresses
const none = (): boolean => false;
const all = (): boolean => true;

function ringOf(us: string, peers: string[]): Ring {
  const r = new Ring(START, END, us);
  r.claimForPeers(peers);
  return r;
}

function data(r: Ring): RingData {
  return r.toData();
}

describe('ipam/Ring', () => {
  describe('claimForPeers', () => {
    it('splits the range into CIDR-aligned halves among the sorted peers', () => {
      const r = ringOf(A, [C, A, B, A]);
      expect(r.seeds).to.deep.equal([A, B, C]);
      expect(r.entries.map((e) => [e.token - START, e.peer, e.free])).to.deep.equal([
        [0, A, 128],
        [128, B, 64],
        [192, C, 64],
      ]);
    });
  });

  describe('grantRangeToHost', () => {
    it('inserts tokens at both ends and hands the middle over with a new version', () => {
      const r = ringOf(A, [A]);
      r.grantRangeToHost(START + 64, START + 128, B);
      expect(r.entries.map((e) => [e.token - START, e.peer])).to.deep.equal([
        [0, A],
        [64, B],
        [128, A],
      ]);
      expect(r.rangesOf(B)).to.deep.equal([{ start: START + 64, end: START + 128 }]);
      // the shrunk entry got a new version so peers accept its smaller free count
      expect(r.entries[0]!.version).to.be.greaterThan(0);
    });

    it('refuses to grant space that is not ours', () => {
      const r = ringOf(A, [A, B]);
      expect(() => r.grantRangeToHost(START + 130, START + 140, C)).to.throw(/not all of it is ours/);
    });
  });

  describe('merge', () => {
    it('takes newer versions of entries we do not own', () => {
      const a = ringOf(A, [A, B, C]);
      const b = Ring.fromData(data(a), B);
      b.grantRangeToHost(START + 128, START + 160, C);
      expect(a.merge(data(b), none)).to.equal(true);
      expect(a.owner(START + 130)).to.equal(C);
      expect(a.owner(START + 170)).to.equal(B);
    });

    it('keeps our entry on an equal version and reports no change', () => {
      const a = ringOf(A, [A, B]);
      expect(a.merge(data(ringOf(B, [A, B])), none)).to.equal(false);
    });

    it('breaks an equal-version conflict on the larger free count', () => {
      const a = ringOf(A, [A, B]);
      const theirs = data(a);
      theirs.entries[1] = { ...theirs.entries[1]!, peer: C, free: 128 };
      a.entries[1]!.free = 100;
      a.merge(theirs, none);
      expect(a.owner(START + 200)).to.equal(C);
    });

    it('errors on an equal-version conflict over an entry of ours that holds allocations', () => {
      const a = ringOf(A, [A, B]);
      const theirs = data(a);
      theirs.entries[0] = { ...theirs.entries[0]!, peer: C };
      expect(() => a.merge(theirs, all)).to.throw(RingMergeError, /inconsistent entries/);
    });

    it('accepts a newer version giving away an entry of ours only when it holds no allocations', () => {
      const theirs = data(ringOf(A, [A, B]));
      theirs.entries[0] = { ...theirs.entries[0]!, peer: C, version: 5 };
      expect(() => ringOf(A, [A, B]).merge(theirs, all)).to.throw(RingMergeError, /received update for IP range I own/);
      const a = ringOf(A, [A, B]);
      a.merge(theirs, none);
      expect(a.owner(START)).to.equal(C);
    });

    it('reasserts our entry above a newer version that still names us (an old incarnation)', () => {
      const a = ringOf(A, [A, B]);
      const theirs = data(a);
      theirs.entries[0] = { ...theirs.entries[0]!, version: 7, free: 3 };
      expect(a.merge(theirs, all)).to.equal(true);
      expect(a.entries[0]!.version).to.equal(8);
      expect(a.entries[0]!.peer).to.equal(A);
    });

    it('refuses a new token splitting our range when the cut-off part holds allocations', () => {
      const theirs = data(ringOf(A, [A, B]));
      theirs.entries.splice(1, 0, { token: START + 64, peer: C, version: 0, free: 64 });
      theirs.entries[0] = { ...theirs.entries[0]!, free: 64, version: 1 };
      expect(() => ringOf(A, [A, B]).merge(theirs, all)).to.throw(RingMergeError, /which I think I own/);
      const a = ringOf(A, [A, B]);
      a.merge(theirs, none);
      expect(a.owner(START + 70)).to.equal(C);
    });

    it('refuses rings seeded differently or over another range', () => {
      expect(() => ringOf(A, [A]).merge(data(ringOf(B, [B])), none)).to.throw(DifferentSeedsError);
      const other = new Ring(START, END + 256, B);
      other.claimForPeers([A]);
      expect(() => ringOf(A, [A]).merge(data(other), none)).to.throw(DifferentRangeError);
    });

    it('an empty ring adopts the seeds and entries it hears', () => {
      const empty = new Ring(START, END, C);
      expect(empty.merge(data(ringOf(A, [A, B])), none)).to.equal(true);
      expect(empty.seeds).to.deep.equal([A, B]);
      expect(empty.entries).to.have.length(2);
    });

    it('refuses invalid incoming rings: unsorted, repeated tokens, too much free space', () => {
      const bad = data(ringOf(A, [A, B]));
      bad.entries.reverse();
      expect(() => ringOf(A, [A, B]).merge(bad, none)).to.throw(/not sorted/);
      const dup = data(ringOf(A, [A, B]));
      dup.entries[1]!.token = dup.entries[0]!.token;
      expect(() => ringOf(A, [A, B]).merge(dup, none)).to.throw(/twice/);
      const greedy = data(ringOf(A, [A, B]));
      greedy.entries[1]!.free = 1000;
      expect(() => ringOf(A, [A, B]).merge(greedy, none)).to.throw(/too much free space/);
    });
  });

  describe('transfer (rmpeer) and reportFree', () => {
    it('takes over every entry of a dead peer with a version jump that wins merges', () => {
      const a = ringOf(A, [A, B, C]);
      const taken = a.transfer(C);
      expect(taken).to.equal(64);
      expect(a.rangesOf(C)).to.deep.equal([]);
      expect(a.entries[2]!.version).to.equal(TAKEOVER_VERSION_BUMP);
      const b = ringOf(B, [A, B, C]);
      b.merge(a.toData(), none);
      expect(b.owner(START + 200)).to.equal(A);
    });

    it('bumps the version of our entries whose free count changed', () => {
      const a = ringOf(A, [A, B]);
      expect(a.reportFree(() => 100)).to.equal(true);
      expect(a.entries[0]).to.include({ free: 100, version: 1 });
      expect(a.entries[1]).to.include({ free: 128, version: 0 });
      expect(a.reportFree(() => 100)).to.equal(false);
    });
  });

  describe('biggestAlignedBlock (donation)', () => {
    it('finds the largest CIDR-aligned block inside a free interval', () => {
      expect(biggestAlignedBlock({ start: 1, end: 16 })).to.deep.equal({ start: 8, end: 16 });
      expect(biggestAlignedBlock({ start: 0, end: 256 })).to.deep.equal({ start: 0, end: 256 });
      expect(biggestAlignedBlock({ start: 5, end: 6 })).to.deep.equal({ start: 5, end: 6 });
    });
  });
});
