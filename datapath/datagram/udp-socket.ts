// A batched IPv4 UDP socket (recvmmsg/sendmmsg through the addon). Received datagrams land in
// a fixed pool of slots that is reused for every batch; outgoing datagrams are encoded by the
// caller straight into a DatagramBatch and handed to the kernel in one sendmmsg.
import { loadDataPlaneNative } from './native/index.ts';
import type { BatchHandle, DataPlaneNative, NativeError, PmtuDiscover, UdpOpenOptions } from './native/index.ts';
import { PolledFd, adoptFd } from './polled-fd.ts';

/** Largest UDP payload over IPv4 (65535 - 20 IP - 8 UDP). */
export const MAX_UDP_PAYLOAD = 65507;

export function ipv4ToNumber(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`bad IPv4 address ${ip}`);
  let n = 0;
  for (const p of parts) {
    const v = Number(p);
    if (!/^\d{1,3}$/.test(p) || v > 255) throw new Error(`bad IPv4 address ${ip}`);
    n = n * 256 + v;
  }
  return n;
}

export function numberToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** One wakeup's worth of received datagrams. Valid only during the onBatch callback: the
 *  next batch overwrites the same memory. */
export class ReceivedBatch {
  count = 0;
  constructor(
    readonly pool: Buffer,
    readonly meta: Uint32Array,
    readonly slotSize: number,
  ) {}
  /** Offset of datagram i in `pool`. */
  offset(i: number): number {
    return i * this.slotSize;
  }
  length(i: number): number {
    return this.meta[i * 3]!;
  }
  /** Source address as a number (a.b.c.d = a<<24 | ...). */
  ip(i: number): number {
    return this.meta[i * 3 + 1]!;
  }
  port(i: number): number {
    return this.meta[i * 3 + 2]!;
  }
  /** A view (no copy) of datagram i. */
  data(i: number): Buffer {
    const off = i * this.slotSize;
    return this.pool.subarray(off, off + this.length(i));
  }
}

/** Outgoing datagrams packed into one arena; reuse it with clear() after each send. */
export class DatagramBatch {
  readonly data: Buffer;
  readonly desc: Uint32Array;
  count = 0;
  /** First free byte of `data`: encode the next datagram here, then push() its length. */
  used = 0;

  constructor(
    capacityBytes = 1 << 20,
    readonly maxDatagrams = 256,
  ) {
    this.data = Buffer.allocUnsafeSlow(capacityBytes);
    this.desc = new Uint32Array(maxDatagrams * 4);
  }

  get free(): number {
    return this.count >= this.maxDatagrams ? 0 : this.data.length - this.used;
  }

  /** Records the datagram just written at `used`. ip 0 = the socket's connected peer. */
  push(length: number, ip: number, port: number): void {
    if (this.count >= this.maxDatagrams || this.used + length > this.data.length) {
      throw new RangeError('DatagramBatch full');
    }
    const d = this.count * 4;
    this.desc[d] = this.used;
    this.desc[d + 1] = length;
    this.desc[d + 2] = ip;
    this.desc[d + 3] = port;
    this.count++;
    this.used += length;
  }

  /** Copies `payload` in as one datagram. */
  add(payload: Uint8Array, ip: number, port: number): void {
    if (payload.length > this.free) throw new RangeError('DatagramBatch full');
    this.data.set(payload, this.used);
    this.push(payload.length, ip, port);
  }

  clear(): void {
    this.count = 0;
    this.used = 0;
  }
}

export interface SendResult {
  /** Datagrams handed to the kernel. */
  sent: number;
  /** Datagrams the kernel refused (each also reported to onSendError). */
  failed: number;
  /** Datagrams not attempted because the socket buffer was full (EAGAIN). */
  dropped: number;
}

export interface UdpSocketOptions extends UdpOpenOptions {
  address?: string;
  port?: number;
  netns?: string;
  /** Datagrams read per recvmmsg (default 64). */
  batch?: number;
  /** Bytes per receive slot (default 65536: any IPv4 UDP datagram fits). */
  slotSize?: number;
  onBatch: (batch: ReceivedBatch) => void;
  /** Receive-side errors (queued ICMP errors such as ECONNREFUSED); the socket keeps working. */
  onError?: (err: NativeError) => void;
  native?: DataPlaneNative;
}

export class UdpSocket extends PolledFd<BatchHandle> {
  readonly address: string;
  readonly port: number;
  private readonly native: DataPlaneNative;

  private constructor(native: DataPlaneNative, handle: BatchHandle, address: string, port: number) {
    super(handle);
    this.native = native;
    this.address = address;
    this.port = port;
  }

  static open(opts: UdpSocketOptions): UdpSocket {
    const native = opts.native ?? loadDataPlaneNative();
    const slots = opts.batch ?? 64;
    const slotSize = opts.slotSize ?? 65536;
    const open: UdpOpenOptions = {};
    if (opts.reusePort !== undefined) open.reusePort = opts.reusePort;
    if (opts.pmtuDiscover !== undefined) open.pmtuDiscover = opts.pmtuDiscover;
    if (opts.rcvbuf !== undefined) open.rcvbuf = opts.rcvbuf;
    if (opts.sndbuf !== undefined) open.sndbuf = opts.sndbuf;
    const sock = native.openUdp(opts.address ?? '0.0.0.0', opts.port ?? 0, opts.netns, open);
    const handle = adoptFd(native, sock.fd, () => {
      const received = new ReceivedBatch(Buffer.allocUnsafeSlow(slots * slotSize), new Uint32Array(slots * 3), slotSize);
      const onBatch = opts.onBatch;
      return new native.BatchHandle(
        sock.fd,
        'udp',
        received.pool,
        slotSize,
        received.meta,
        (count) => {
          received.count = count;
          onBatch(received);
        },
        opts.onError ?? (() => undefined),
      );
    });
    return new UdpSocket(native, handle, sock.address, sock.port);
  }

  /** Sends every datagram of `batch` (one sendmmsg per 256). A datagram the kernel refuses
   *  (e.g. EMSGSIZE above the path MTU with DF set) is reported and skipped. Does not clear. */
  send(batch: DatagramBatch, onSendError?: (err: NativeError, index: number) => void): SendResult {
    const result: SendResult = { sent: 0, failed: 0, dropped: 0 };
    let start = 0;
    while (start < batch.count) {
      const desc = start === 0 ? batch.desc : batch.desc.subarray(start * 4);
      try {
        const n = this.handle.sendBatch(batch.data, desc, batch.count - start);
        result.sent += n;
        result.dropped += batch.count - start - n;
        return result;
      } catch (err) {
        const e = err as NativeError & { index?: number };
        if (typeof e.index !== 'number') throw err;
        result.sent += e.index;
        result.failed++;
        onSendError?.(e, start + e.index);
        start += e.index + 1;
      }
    }
    return result;
  }

  /** Fixes the peer (then ip 0 in a DatagramBatch means it, and pathMtu() works). */
  connect(address: string, port: number): void {
    this.native.udpConnect(this.handle.fd, address, port);
  }

  setPmtuDiscover(mode: PmtuDiscover): void {
    this.native.udpSetPmtuDiscover(this.handle.fd, mode);
  }

  /** The kernel's path MTU towards the connected peer (IP_MTU). */
  pathMtu(): number {
    return this.native.udpGetMtu(this.handle.fd);
  }

  stats(): ReturnType<BatchHandle['stats']> {
    return this.handle.stats();
  }
}
