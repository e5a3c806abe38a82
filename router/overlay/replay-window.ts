// Replay protection for one sealed stream (Weave's frame_crypto.go): sequence numbers seen are
// recorded in a window of 2 x 2^20 numbers, kept as two bitsets for the lower and upper half.
// The window slides by whole halves so that the upper half always holds the highest sequence
// number accepted; anything below the lower half, or already seen, is rejected. Only call
// admit() for packets that authenticated: advancing on forged sequence numbers would let an
// attacker push the window past every genuine packet.

export const WINDOW_BITS = 20;
const HALF = 1 << WINDOW_BITS;
const WORDS = HALF / 32;

export class ReplayWindow {
  /** Index (seq >> 20) of the upper half. */
  private current = 0;
  private upper = new Uint32Array(WORDS);
  private lower = new Uint32Array(WORDS);

  /** Records a sequence number given as its 32-bit halves (the 63-bit value does not fit a
   *  double exactly). Returns false for a replay or a number below the window. */
  admit(seqHi: number, seqLo: number): boolean {
    const window = (seqHi & 0x7fffffff) * 4096 + (seqLo >>> WINDOW_BITS);
    const offset = seqLo & (HALF - 1);
    const delta = window - this.current;
    let set: Uint32Array;
    if (delta < -1) {
      return false;
    } else if (delta === -1) {
      set = this.lower;
    } else if (delta === 0) {
      set = this.upper;
    } else if (delta === 1) {
      // slide by one half: the upper half becomes the lower one
      const old = this.lower;
      this.lower = this.upper;
      old.fill(0);
      this.upper = old;
      this.current = window;
      set = this.upper;
    } else {
      // a jump (e.g. after heavy loss): nothing we saw is in the new window
      this.lower.fill(0);
      this.upper.fill(0);
      this.current = window;
      set = this.upper;
    }
    const word = offset >>> 5;
    const bit = 1 << (offset & 31);
    if ((set[word]! & bit) !== 0) return false;
    set[word] = set[word]! | bit;
    return true;
  }
}
