// A small seeded PRNG (mulberry32) so a chaos run can be replayed exactly: the suites print the
// seed when they fail and take it back from WEAVE_CHAOS_SEED. Math.random cannot be seeded.

export const SEED_ENV = 'WEAVE_CHAOS_SEED';

export class SeededRandom {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** The seed from WEAVE_CHAOS_SEED when set (it must be an unsigned 32-bit integer), else a fresh one. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): SeededRandom {
    const raw = env[SEED_ENV];
    if (raw === undefined || raw === '') return new SeededRandom(Math.floor(Math.random() * 2 ** 32));
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) throw new Error(`${SEED_ENV}=${raw}: expected an integer in 0..${2 ** 32 - 1}`);
    return new SeededRandom(n);
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    return xs[Math.floor(this.next() * xs.length)]!;
  }

  shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** How to replay this run. */
  replayHint(): string {
    return `chaos seed ${this.seed}: replay with ${SEED_ENV}=${this.seed}`;
  }
}
