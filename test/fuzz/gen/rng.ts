// A small seeded PRNG (mulberry32) so every fuzz input can be rebuilt from (seed, surface,
// index): a failure message names all three and `WEAVE_FUZZ_SEED=<seed>` replays the run.

/** The seed of this run: WEAVE_FUZZ_SEED (decimal or 0x hex) or a fixed default, so `npm test`
 *  runs the same inputs every time unless asked otherwise. */
export const DEFAULT_SEED = 0x5eed_f022;

export function fuzzSeed(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env['WEAVE_FUZZ_SEED'];
  if (raw === undefined || raw === '') return DEFAULT_SEED;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`WEAVE_FUZZ_SEED must be an integer in [0, 2^32), got ${JSON.stringify(raw)}`);
  return n;
}

/** FNV-1a over the text, to fold a surface name into a seed. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The generator of input `index` of `surface`: inputs do not depend on each other, so one
   *  input can be rebuilt alone. */
  static forInput(seed: number, surface: string, index: number): Rng {
    return new Rng((hash32(surface) ^ Math.imul(index + 1, 0x9e3779b1) ^ seed) >>> 0);
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  bool(p = 0.5): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from nothing');
    return items[this.int(items.length)]!;
  }

  /** Picks by weight: [[weight, value], ...]. */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    const total = items.reduce((s, [w]) => s + w, 0);
    let x = this.next() * total;
    for (const [w, v] of items) {
      x -= w;
      if (x < 0) return v;
    }
    return items[items.length - 1]![1];
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** Text from `alphabet` (default: printable ASCII plus a few troublemakers). */
  string(n: number, alphabet = ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~\u0000\u00e9\u2028\ud83d\ude00'): string {
    const chars = [...alphabet];
    let s = '';
    for (let i = 0; i < n; i++) s += this.pick(chars);
    return s;
  }

  /** A random JSON value of bounded depth. */
  json(depth = 2): unknown {
    const kind = this.int(depth > 0 ? 8 : 6);
    switch (kind) {
      case 0: return null;
      case 1: return this.bool();
      case 2: return this.pick([0, -1, 1.5, 2 ** 53, -(2 ** 31), 1e308, 6783]);
      case 3: return this.string(this.int(12));
      case 4: return '';
      case 5: return this.pick(['10.32.0.0/16', '02:42:ac:11:00:02', 'weavelocal', 'x'.repeat(300)]);
      case 6: return Array.from({ length: this.int(4) }, () => this.json(depth - 1));
      default: return Object.fromEntries(Array.from({ length: this.int(4) }, () => [this.string(this.range(1, 8)), this.json(depth - 1)]));
    }
  }
}
