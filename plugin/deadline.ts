// Docker gives legacy plugins no request timeout at all: a handler that never answers blocks the
// calling dockerd goroutine, often while it holds network locks. So every handler races a
// deadline and Docker gets a 500 it can report instead of a hang.

import { PluginError } from './plugin-error.ts';

export class DeadlineExceededError extends PluginError {
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${Math.round(ms / 100) / 10} s; the operation may still complete, retry it`, 500);
    this.name = 'DeadlineExceededError';
  }
}

/** Resolve like `work`, or reject with DeadlineExceededError after `ms`. The work itself is not
 *  cancelled (its state change stays serialized behind the store lock); its late failure is
 *  handed to `onLateError` so it is never an unhandled rejection. */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string, onLateError: (err: unknown) => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let expired = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      reject(new DeadlineExceededError(what, ms));
    }, ms);
  });
  work.catch((err: unknown) => {
    if (expired) onLateError(err);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
