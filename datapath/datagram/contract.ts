// The datagram sockets the sleeve overlay sends and receives on, as the router sees them. The
// daemon hands the router a DatagramSockets; datapath/datagram/udp-socket.ts implements it with
// recvmmsg/sendmmsg through our addon. The two batch layouts are part of the contract: the
// caller encodes datagrams straight into a DatagramBatch's arena, and a ReceivedBatch is a view
// of the socket's receive pool, so neither side copies.

/** A socket-level failure (the addon's errors carry Node's system-error fields). */
export interface SocketError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
}

export type PmtuMode = 'dont' | 'want' | 'do' | 'probe';

export interface DatagramSocketOptions {
  /** Local address (default 0.0.0.0) and port (default 0: any). */
  address?: string;
  port?: number;
  reusePort?: boolean;
  /** IP_MTU_DISCOVER: 'do' sets DF and reports EMSGSIZE above the path MTU. */
  pmtuDiscover?: PmtuMode;
  rcvbuf?: number;
  sndbuf?: number;
  /** UDP GSO on send and GRO on receive where the kernel has them (default off); the
   *  datagrams on the wire are the same either way. */
  offloads?: boolean;
  /** Called once per wakeup with every datagram read. */
  onBatch: (batch: ReceivedBatch) => void;
  /** Receive-side errors (queued ICMP errors such as ECONNREFUSED); the socket keeps working. */
  onError?: (err: SocketError) => void;
}

export interface DatagramSocket {
  readonly address: string;
  readonly port: number;
  readonly closed: boolean;
  /** Sends every datagram of `batch`. A datagram the kernel refuses (EMSGSIZE above the path
   *  MTU with DF set) is reported and skipped. Does not clear the batch. */
  send(batch: DatagramBatch, onSendError?: (err: SocketError, index: number) => void): SendResult;
  close(): void;
}

/** The kernel's view of the path MTU towards one remote address. */
export interface PathMtuProbe {
  mtu(): number;
  close(): void;
}

/** Opens sockets in the place (network namespace) the daemon chose. */
export interface DatagramSockets {
  open(opts: DatagramSocketOptions): DatagramSocket;
  /** A probe towards ip:port (ip as a uint32) whose mtu() follows the kernel's PMTU cache. */
  pathMtuProbe(ip: number, port: number): PathMtuProbe;
}

export interface SendResult {
  /** Datagrams handed to the kernel. */
  sent: number;
  /** Datagrams the kernel refused (each also reported to onSendError). */
  failed: number;
  /** Datagrams not attempted because the socket buffer was full (EAGAIN). */
  dropped: number;
}

/** One wakeup's worth of received datagrams. Valid only during the onBatch callback: the
 *  next batch overwrites the same memory. meta has 4 numbers per datagram: length, source
 *  IPv4, source port, offset in pool (a coalesced read gives several datagrams). */
export class ReceivedBatch {
  count = 0;
  constructor(
    readonly pool: Buffer,
    readonly meta: Uint32Array,
  ) {}
  /** Offset of datagram i in `pool`. */
  offset(i: number): number {
    return this.meta[i * 4 + 3]!;
  }
  length(i: number): number {
    return this.meta[i * 4]!;
  }
  /** Source address as a number (a.b.c.d = a<<24 | ...). */
  ip(i: number): number {
    return this.meta[i * 4 + 1]!;
  }
  port(i: number): number {
    return this.meta[i * 4 + 2]!;
  }
  /** A view (no copy) of datagram i. */
  data(i: number): Buffer {
    const off = this.offset(i);
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
