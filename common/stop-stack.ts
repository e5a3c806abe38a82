// What a service started, to be undone in reverse: each start step pushes its undo, and stop()
// (or a failed start) unwinds all of them, logging a failing step and going on with the rest, so
// one stuck part never leaves the others running.
import type { Logger } from './logger.ts';

export class StopStack {
  private readonly steps: (() => Promise<void> | void)[] = [];

  constructor(private readonly log: Logger) {}

  push(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }

  async unwind(): Promise<void> {
    while (this.steps.length > 0) {
      try {
        await this.steps.pop()!();
      } catch (err) {
        this.log.warn('error while stopping', { error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
}
