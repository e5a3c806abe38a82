// Docker gives legacy plugins no request timeout at all: a handler that never answers blocks the
// calling dockerd goroutine, often while it holds network locks. So every handler races a
// deadline and Docker gets a 500 it can report instead of a hang.

import { PluginError } from './plugin-error.ts';

export class DeadlineExceededError extends PluginError {
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${Math.round(ms / 100) / 10} s; retry it`, 500);
    this.name = 'DeadlineExceededError';
  }
}

/** Lets a handler that finishes late learn that Docker has already been told it failed (or
 *  hung up and will never hear the answer), so it can undo what it did: a request whose answer
 *  never arrives must leave state unchanged, since no caller will ever release what it created. */
export interface RequestContext {
  expired(): boolean;
}

/** Run `start` and resolve like it, or reject with DeadlineExceededError after `ms`. The work is
 *  not cancelled (its state change stays serialized behind the store lock); it can check
 *  `ctx.expired()` when done, and its late failure goes to `onLateError` rather than becoming
 *  an unhandled rejection. A result settled before the timer fires always wins: the check and
 *  the settlement are separated by microtasks only, never by a timer tick. */
export function withDeadline<T>(
  start: (ctx: RequestContext) => Promise<T>,
  ms: number,
  what: string,
  onLateError: (err: unknown) => void,
  /** True once the caller can no longer receive the answer (it closed the connection). */
  callerGone: () => boolean = () => false,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let expired = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      reject(new DeadlineExceededError(what, ms));
    }, ms);
  });
  const work = start({ expired: () => expired || callerGone() });
  work.catch((err: unknown) => {
    if (expired || callerGone()) onLateError(err);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
