// Reads exact byte counts from a socket with a deadline per read: what the handshake needs
// before the connection switches to streaming frames. Bytes that arrive beyond what was asked
// for are kept and handed over with `release()`.
import type { Socket } from 'node:net';

export class HandshakeTimeoutError extends Error {
  override name = 'HandshakeTimeoutError';
}

export class SocketInput {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended: Error | undefined;
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.settle();
  };
  private readonly onEnd = (): void => this.fail(new Error('connection closed by remote during handshake'));
  private readonly onError = (err: Error): void => this.fail(err);

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** Exactly n bytes, or a rejection on timeout, remote close or socket error. */
  read(n: number, timeoutMs: number, what: string): Promise<Buffer> {
    if (this.waiter) return Promise.reject(new Error('concurrent handshake reads'));
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new HandshakeTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiter = { n, resolve, reject, timer };
      this.settle();
    });
  }

  /** Stops listening and returns the bytes read ahead. Call synchronously before attaching the
   *  next reader so no 'data' event falls between the two. */
  release(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    if (this.waiter) {
      clearTimeout(this.waiter.timer);
      this.waiter = undefined;
    }
    const rest = Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    return rest;
  }

  private fail(err: Error): void {
    this.ended ??= err;
    this.settle();
  }

  private settle(): void {
    const w = this.waiter;
    if (!w) return;
    if (this.buffered >= w.n) {
      this.waiter = undefined;
      clearTimeout(w.timer);
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      const out = all.subarray(0, w.n);
      const rest = all.subarray(w.n);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
      w.resolve(out);
    } else if (this.ended) {
      this.waiter = undefined;
      clearTimeout(w.timer);
      w.reject(this.ended);
    }
  }
}
