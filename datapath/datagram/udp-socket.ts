// A batched IPv4 UDP socket (recvmmsg/sendmmsg through the addon). Received datagrams land in
// a fixed pool of slots that is reused for every batch; outgoing datagrams are encoded by the
// caller straight into a DatagramBatch and handed to the kernel in one sendmmsg.
import { loadDataPlaneNative } from '../native/index.ts';
import type { BatchHandle, DataPlaneNative, NativeError, PmtuDiscover, UdpOpenOptions } from '../native/index.ts';
import { PolledFd, adoptFd } from '../polled-fd.ts';
import { ReceivedBatch } from './contract.ts';
import type { DatagramBatch, DatagramSocket, DatagramSocketOptions, SendResult } from './contract.ts';

export interface UdpSocketOptions extends DatagramSocketOptions {
  netns?: string;
  /** Datagrams read per recvmmsg (default 64). */
  batch?: number;
  /** Bytes per receive slot (default 65536: any IPv4 UDP datagram fits). */
  slotSize?: number;
  native?: DataPlaneNative;
}

export class UdpSocket extends PolledFd<BatchHandle> implements DatagramSocket {
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
    if (opts.offloads) open.gro = true;
    const sock = native.openUdp(opts.address ?? '0.0.0.0', opts.port ?? 0, opts.netns, open);
    const handle = adoptFd(native, sock.fd, () => {
      // a coalesced read holds up to 64 datagrams from GRO, up to 128 from a GSO send over veth
      const received = new ReceivedBatch(Buffer.allocUnsafeSlow(slots * slotSize), new Uint32Array(slots * (sock.gro ? 128 : 1) * 4));
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
    if (opts.offloads) handle.setGso(true);
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
