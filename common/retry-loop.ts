/** Runs `attempt` in the background until it reports done, backing off exponentially between
 *  tries (first try at once). For start-up work that waits on something outside our control,
 *  such as the Docker Engine API answering. */
export class RetryLoop {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private delay: number;
  private readonly firstDelayMs: number;

  constructor(
    private readonly attempt: () => Promise<'done' | 'retry'>,
    private readonly opts: { firstDelayMs?: number; maxDelayMs?: number } = {},
  ) {
    this.firstDelayMs = opts.firstDelayMs ?? 500;
    this.delay = this.firstDelayMs;
  }

  /** Back to the first delay: for an attempt that made progress before it failed (a stream that
   *  ran for a while), so the next outage is retried quickly rather than at the longest delay. */
  resetBackoff(): void {
    this.delay = this.firstDelayMs;
  }

  /** The delay before the next retry (for logs). */
  get nextDelayMs(): number {
    return this.delay;
  }

  get stopped(): boolean {
    return !this.running;
  }

  start(): void {
    this.running = true;
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      void this.attempt().then(
        (outcome) => {
          if (outcome === 'done') {
            this.running = false;
            return;
          }
          this.schedule(this.delay);
          this.delay = Math.min(this.delay * 2, this.opts.maxDelayMs ?? 10_000);
        },
        () => this.schedule(this.delay),
      );
    }, ms);
  }
}

/** A start()/stop() service whose whole job is one RetryLoop around its attempt(). */
export abstract class RetryingService {
  protected readonly loop: RetryLoop;

  constructor(opts: { firstDelayMs?: number; maxDelayMs?: number } = {}) {
    this.loop = new RetryLoop(() => this.attempt(), opts);
  }

  start(): Promise<void> {
    this.loop.start();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.loop.stop();
    return Promise.resolve();
  }

  protected abstract attempt(): Promise<'done' | 'retry'>;
}
