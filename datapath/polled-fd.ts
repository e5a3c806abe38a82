// Owning a non-blocking fd through an addon handle that polls it on the libuv loop and closes
// it when closed: adoptFd for every opener (NetlinkSocket too), and PolledFd, what TapDevice and
// UdpSocket have in common.
import type { PolledHandle, WeaveNative } from './native/index.ts';

/** Hands a freshly opened fd to `wrap`, which builds the handle that will own it. Until that
 *  handle exists nothing else would close the fd, so it is closed here if `wrap` throws. */
export function adoptFd<T>(native: WeaveNative, fd: number, wrap: () => T): T {
  try {
    return wrap();
  } catch (err) {
    native.closeFd(fd);
    throw err;
  }
}

export abstract class PolledFd<H extends PolledHandle> {
  protected constructor(protected readonly handle: H) {}

  get fd(): number {
    return this.handle.fd;
  }

  get closed(): boolean {
    return this.handle.closed;
  }

  /** Keep the process alive while the fd is open (default: it does not). */
  ref(): void {
    this.handle.ref();
  }

  unref(): void {
    this.handle.unref();
  }

  close(): void {
    this.handle.close();
  }
}
