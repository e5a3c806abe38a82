// Rate limit for accepting TCP connections (Weave: capacity 20, one token per 50 ms), so a
// connection storm cannot starve the router.

import type { Clock } from './clock.ts';

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly clock: Clock,
    private readonly capacity = 20,
    private readonly refillMs = 50,
  ) {
    this.tokens = capacity;
    this.last = clock.now();
  }

  tryTake(): boolean {
    const now = this.clock.now();
    const earned = Math.floor((now - this.last) / this.refillMs);
    if (earned > 0) {
      this.tokens = Math.min(this.capacity, this.tokens + earned);
      this.last = this.tokens === this.capacity ? now : this.last + earned * this.refillMs;
    }
    if (this.tokens <= 0) return false;
    this.tokens--;
    return true;
  }
}
