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

/** What every addon handle offers (see pollable-fd.h): a non-blocking fd on the libuv loop.
 *  Unref'd by default: call ref() while waiting for data that must keep the process alive.
 *  The fd is closed by close(). */
export interface PolledHandle {
  readonly fd: number;
  readonly closed: boolean;
  close(): void;
  ref(): void;
  unref(): void;
}

/** A netlink socket or TAP fd read one datagram per callback. */
export interface FdHandle extends PolledHandle {
  /** One datagram (netlink) or frame (tap); throws NativeError (e.g. EAGAIN, ENOBUFS). */
  send(data: Buffer): number;
}

export interface FdHandleConstructor {
  new (fd: number, kind: FdKind, onMessage: (data: Buffer) => void, onError: (err: NativeError) => void): FdHandle;
}

/** Path-MTU discovery mode of a UDP socket (IP_MTU_DISCOVER): "do" sets DF and fails sends
 *  above the known path MTU with EMSGSIZE; "dont" never sets DF. */
export type PmtuDiscover = 'dont' | 'want' | 'do' | 'probe';

export interface UdpOpenOptions {
  reusePort?: boolean;
  pmtuDiscover?: PmtuDiscover;
  /** Socket buffer sizes in bytes (SO_RCVBUFFORCE/SO_SNDBUFFORCE when root). */
  rcvbuf?: number;
  sndbuf?: number;
  /** UDP_GRO: the kernel may hand over several datagrams of one flow in one read; the
   *  BatchHandle splits them again (result field `gro` says whether the kernel took it). */
  gro?: boolean;
}

/** tap-vnet: a TAP opened with offloads (IFF_VNET_HDR, TSO): super-frames and partial
 *  checksums are turned into ordinary complete frames in native code as they are read, and
 *  written frames get an empty virtio_net_hdr in front. */
export type BatchKind = 'udp' | 'tap' | 'tap-vnet';

/** A UDP socket or TAP fd moved in batches through caller-owned memory (see batch-handle.h). */
export interface BatchHandle extends PolledHandle {
  /** desc: 4 numbers per datagram (offset in data, length, IPv4 as number or 0 = connected
   *  peer, port). Returns how many were handed to the kernel (fewer on EAGAIN); other errors
   *  throw a NativeError with `index` = the failing datagram. */
  sendBatch(data: Uint8Array, desc: Uint32Array, count: number): number;
  /** UDP: send runs of equal-size datagrams to one destination as one UDP_SEGMENT message
   *  (off again by itself if the kernel refuses; default off). tap-vnet: write runs of TCP
   *  segments of one flow as one super-frame (default on). Returns whether it is on. */
  setGso(on: boolean): boolean;
  stats(): BatchStats;
}

export interface BatchStats {
  received: number;
  recvCalls: number;
  sent: number;
  sendCalls: number;
  truncated: number;
  /** UDP_SEGMENT messages sent and the datagrams in them. */
  gsoSends: number;
  gsoDatagrams: number;
  /** Coalesced (UDP_GRO) reads split into datagrams. */
  groReads: number;
  /** tap-vnet: TSO super-frames segmented; frames dropped as malformed. */
  superFrames: number;
  badFrames: number;
  /** tap-vnet writes: super-frames written and the frames coalesced into them. */
  superFramesOut: number;
  coalesced: number;
}

export interface BatchHandleConstructor {
  /** udp/tap: the pool holds pool.length / slotSize read slots. tap-vnet: slotSize is the
   *  largest read (>= 65545) and frames are laid out anywhere in the pool. After each read meta
   *  gets 4 numbers per entry: length, source IPv4 (number), source port, offset in pool; a
   *  coalesced UDP read or a TAP super-frame gives several entries. */
  new (
    fd: number,
    kind: BatchKind,
    pool: Uint8Array,
    slotSize: number,
    meta: Uint32Array,
    onBatch: (count: number) => void,
    onError: (err: NativeError & { index?: number }) => void,
  ): BatchHandle;
}

export interface WeaveNative {
  /** Non-blocking, bound netlink socket; created inside `netns` (a path) when given. */
  openNetlink(protocol: number, netns?: string, rcvbuf?: number, groups?: number): number;
  netlinkPortId(fd: number): number;
  netlinkAddMembership(fd: number, group: number): void;
  /** Grows SO_SNDBUF / SO_RCVBUF (FORCE when root); 0 leaves that one alone. */
  netlinkSetBuffers(fd: number, sndbuf: number, rcvbuf: number): void;
  /** TAP device (IFF_TAP | IFF_NO_PI), non-blocking; exists while the fd is open. With
   *  offloads: IFF_VNET_HDR + TUNSETOFFLOAD (checksum, TSO over IPv4); `offloads` in the
   *  result says whether the kernel took them (the fd carries vnet headers either way). */
  openTap(name: string, netns?: string, options?: { offloads?: boolean }): { fd: number; name: string; offloads?: boolean };
  /** Write a file (e.g. /proc/sys/net/...) from a thread inside `netns`. */
  writeFileInNetns(netns: string | undefined, file: string, data: string | Buffer): void;
  closeFd(fd: number): void;
  FdHandle: FdHandleConstructor;
}

/** The addon's data-plane half (batched UDP and TAP). A separate interface so fakes of
 *  WeaveNative written for the control plane stay complete. */
export interface DataPlaneNative extends WeaveNative {
  /** Non-blocking IPv4 UDP socket bound to address:port (0 = ephemeral), inside `netns` when given. */
  openUdp(address: string, port: number, netns?: string, options?: UdpOpenOptions): { fd: number; address: string; port: number; gro?: boolean };
  udpConnect(fd: number, address: string, port: number): void;
  udpSetPmtuDiscover(fd: number, mode: PmtuDiscover): void;
  /** IP_MTU: the path MTU towards the connected peer (throws ENOTCONN when not connected). */
  udpGetMtu(fd: number): number;
  /** What the tap-vnet capture makes of one read (vnet header + frame): the frames are
   *  written to out, [offset, length] pairs to meta; returns their number (0 = malformed). */
  segmentVnetFrame(input: Uint8Array, out: Uint8Array, meta: Uint32Array): number;
  /** What a tap-vnet write makes of frames ([offset, length] pairs in meta) that follow each
   *  other in a batch: the first `frames` of them go as `written` (vnet header + frame). */
  coalesceTcp4(data: Uint8Array, meta: Uint32Array, count: number): { frames: number; written: Buffer };
  BatchHandle: BatchHandleConstructor;
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

/** loadNative() typed with the data-plane functions as well. */
export function loadDataPlaneNative(): DataPlaneNative {
  return loadNative() as DataPlaneNative;
}

/** Loads the addon on first use (Node's require cache makes later calls cheap), so modules
 *  that only need the pure codecs load without a built addon. */
export function loadNative(): WeaveNative {
  const require = createRequire(import.meta.url);
  return require(addonPath()) as WeaveNative;
}
