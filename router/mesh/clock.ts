// Time as a dependency: services take a Clock so tests can drive timers by hand.

export type TimerHandle = unknown;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // Mesh timers must never keep a stopping process alive on their own.
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** A one-shot timer that coalesces: arming it while armed keeps the earlier deadline. */
export class Debouncer {
  private handle: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly delayMs: number,
    private readonly fn: () => void,
  ) {}

  get pending(): boolean {
    return this.handle !== undefined;
  }

  arm(): void {
    if (this.handle !== undefined) return;
    this.handle = this.clock.setTimeout(() => {
      this.handle = undefined;
      this.fn();
    }, this.delayMs);
  }

  /** Run now if armed (e.g. a reader wants fresh results). */
  flush(): void {
    if (this.handle === undefined) return;
    this.cancel();
    this.fn();
  }

  cancel(): void {
    if (this.handle === undefined) return;
    this.clock.clearTimeout(this.handle);
    this.handle = undefined;
  }
}
