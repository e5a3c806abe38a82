// Reconnect timing for one target (Weave's connection maker): first try now; after a failure
// wait a random time in [i/2, 3i/2) with i growing from 2 s by ×1.5 up to 6 min.

import type { Clock } from './clock.ts';

export const INITIAL_RETRY_INTERVAL_MS = 2_000;
export const MAX_RETRY_INTERVAL_MS = 6 * 60_000;
/** A connection that lived this long past its try time was healthy: start over. */
export const RESET_AFTER_MS = 60_000;

export class Backoff {
  /** Epoch ms of the next allowed attempt; Infinity = never. */
  tryAfter: number;
  interval = INITIAL_RETRY_INTERVAL_MS;

  constructor(
    private readonly clock: Clock,
    private readonly random: () => number,
  ) {
    this.tryAfter = clock.now();
  }

  tryNow(): void {
    this.tryAfter = this.clock.now();
    this.interval = INITIAL_RETRY_INTERVAL_MS;
  }

  /** Not before `ms` from now, without touching the interval (a deferred first attempt). */
  tryIn(ms: number): void {
    this.tryAfter = this.clock.now() + ms;
  }

  retry(): void {
    this.tryAfter = this.clock.now() + this.interval / 2 + Math.floor(this.random() * this.interval);
    this.interval = Math.min(Math.floor((this.interval * 3) / 2), MAX_RETRY_INTERVAL_MS);
  }

  never(): void {
    this.tryAfter = Infinity;
    this.interval = MAX_RETRY_INTERVAL_MS;
  }

  /** An established connection ended: retry at once if it had been up long enough. */
  connectionEnded(): void {
    if (this.clock.now() >= this.tryAfter + RESET_AFTER_MS) this.tryNow();
    else this.retry();
  }
}
