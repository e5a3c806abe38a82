// A TAP device (IFF_TAP | IFF_NO_PI) read and written as Ethernet frames on the libuv loop.
// The device exists while it is open; closing it removes it from the kernel.
import { loadNative } from './native/index.ts';
import type { FdHandle, NativeError, WeaveNative } from './native/index.ts';
import { PolledFd, adoptFd } from './polled-fd.ts';

export interface TapOptions {
  /** Path of the network namespace to create the device in; default: our own. */
  netns?: string;
  /** Called once per frame the kernel transmits out of the device. */
  onFrame: (frame: Buffer) => void;
  onError?: (err: NativeError) => void;
  native?: WeaveNative;
}

export class TapDevice extends PolledFd<FdHandle> {
  readonly name: string;

  private constructor(name: string, handle: FdHandle) {
    super(handle);
    this.name = name;
  }

  static open(name: string, opts: TapOptions): TapDevice {
    const native = opts.native ?? loadNative();
    const tap = native.openTap(name, opts.netns);
    const handle = adoptFd(native, tap.fd, () => new native.FdHandle(tap.fd, 'tap', opts.onFrame, opts.onError ?? (() => undefined)));
    return new TapDevice(tap.name, handle);
  }

  /** Injects one frame as if it arrived on the wire. Returns false when the kernel's queue is
   *  full (EAGAIN): the frame is dropped, as a NIC would drop it. */
  send(frame: Buffer): boolean {
    try {
      this.handle.send(frame);
      return true;
    } catch (err) {
      if ((err as NativeError).code === 'EAGAIN') return false;
      throw err;
    }
  }
}
