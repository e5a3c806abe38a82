// A FIFO lock for async critical sections. State changes are "compute, persist, then publish";
// two of them interleaving across an await would publish one and lose the other, so every
// mutation of persisted state runs under one of these.

export class AsyncMutex {
  private tail: Promise<void> = Promise.resolve();

  /** Run `fn` once every earlier caller has finished; a failure of one caller never blocks the
   *  next one. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Resolves when everything queued so far has finished. */
  idle(): Promise<void> {
    return this.tail;
  }
}
