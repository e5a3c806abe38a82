// Typed loader for the weave_native addon (syscalls and fds only; see src/).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';

/** Errors thrown by the addon carry Node's system-error fields. */
export interface NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export type FdKind = 'netlink' | 'tap';

/** A non-blocking fd on the libuv loop. Unref'd by default: call ref() while waiting for data
 *  that must keep the process alive. The fd is closed by close(). */
export interface FdHandle {
  readonly fd: number;
  readonly closed: boolean;
  /** One datagram (netlink) or frame (tap); throws NativeError (e.g. EAGAIN, ENOBUFS). */
  send(data: Buffer): number;
  close(): void;
  ref(): void;
  unref(): void;
}

export interface FdHandleConstructor {
  new (fd: number, kind: FdKind, onMessage: (data: Buffer) => void, onError: (err: NativeError) => void): FdHandle;
}

export interface WeaveNative {
  /** Non-blocking, bound netlink socket; created inside `netns` (a path) when given. */
  openNetlink(protocol: number, netns?: string, rcvbuf?: number, groups?: number): number;
  netlinkPortId(fd: number): number;
  netlinkAddMembership(fd: number, group: number): void;
  /** TAP device (IFF_TAP | IFF_NO_PI), non-blocking; exists while the fd is open. */
  openTap(name: string, netns?: string): { fd: number; name: string };
  /** Write a file (e.g. /proc/sys/net/...) from a thread inside `netns`. */
  writeFileInNetns(netns: string | undefined, file: string, data: string | Buffer): void;
  closeFd(fd: number): void;
  FdHandle: FdHandleConstructor;
}

function addonPath(): string {
  // Works from the source tree (datapath/native/index.ts) and from dist/datapath/native/index.js.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.join(here, 'build', 'Release', 'weave_native.node'),
    path.join(here, '..', '..', '..', 'datapath', 'native', 'build', 'Release', 'weave_native.node'),
  ];
  return candidates.find((p) => fs.existsSync(p)) ?? candidates[0]!;
}

/** Loads the addon on first use (Node's require cache makes later calls cheap), so modules
 *  that only need the pure codecs load without a built addon. */
export function loadNative(): WeaveNative {
  const require = createRequire(import.meta.url);
  return require(addonPath()) as WeaveNative;
}
