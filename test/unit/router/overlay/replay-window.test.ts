import { expect } from 'chai';
import { ReplayWindow } from '../../../../router/overlay/replay-window.ts';

const HALF = 1 << 20;
const hiLo = (seq: number): [number, number] => [Math.floor(seq / 2 ** 32), seq >>> 0];
const admit = (w: ReplayWindow, seq: number) => w.admit(...hiLo(seq));

describe('ReplayWindow', function () {
  it('accepts each sequence number once, in any order inside the window', function () {
    const w = new ReplayWindow();
    for (const s of [0, 5, 3, 1, 2, 4]) expect(admit(w, s)).to.equal(true);
    for (const s of [0, 3, 5]) expect(admit(w, s)).to.equal(false);
  });

  it('keeps the previous half after sliding, and forgets everything below it', function () {
    const w = new ReplayWindow();
    expect(admit(w, 10)).to.equal(true);
    expect(admit(w, HALF + 1)).to.equal(true); // slide by one half
    expect(admit(w, 11)).to.equal(true); // still in the lower half
    expect(admit(w, 10)).to.equal(false); // remembered there
    expect(admit(w, 2 * HALF + 7)).to.equal(true); // slide again: half 0 falls out
    expect(admit(w, 12)).to.equal(false); // below the window
    expect(admit(w, HALF + 1)).to.equal(false); // seen, now in the lower half
    expect(admit(w, HALF + 2)).to.equal(true);
  });

  it('clears both halves on a jump of more than one half', function () {
    const w = new ReplayWindow();
    expect(admit(w, 100)).to.equal(true);
    expect(admit(w, 5 * HALF + 100)).to.equal(true);
    expect(admit(w, 4 * HALF + 100)).to.equal(true); // the fresh lower half knows nothing
    expect(admit(w, 3 * HALF)).to.equal(false);
  });

  it('ignores bit 63 (the DF flag) and handles sequence numbers beyond 2^53', function () {
    const w = new ReplayWindow();
    // seq = 2^62 + 5, with the DF bit set in the high word
    expect(w.admit(0x80000000 | 0x40000000, 5)).to.equal(true);
    expect(w.admit(0x40000000, 5)).to.equal(false);
    expect(w.admit(0x40000000, 6)).to.equal(true);
    expect(w.admit(0x3fffffff, 6)).to.equal(false); // far below
  });
});
