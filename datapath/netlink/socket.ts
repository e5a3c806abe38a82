// A request/response netlink socket: sequence numbers, acks, dumps, timeouts, many requests in
// flight. Replies are matched by sequence number; messages with seq 0 (multicast notifications)
// go to the notification listener.
import { loadNative } from '../native/index.ts';
import type { FdHandle, NativeError, WeaveNative } from '../native/index.ts';
import { adoptFd } from '../polled-fd.ts';
import {
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
} from './constants.ts';
import { readI32 } from './host-endian.ts';
import { decodeErrorPayload, decodeMessages, encodeMessage } from './message.ts';
import type { NetlinkMessage } from './message.ts';
import { NetlinkError, errnoNumber } from './netlink-error.ts';

export interface NetlinkSocketOptions {
  /** Path of a network namespace (/run/netns/x, /proc/<pid>/ns/net); default: our own. */
  netns?: string;
  /** Default per-request timeout. */
  timeoutMs?: number;
  /** Multicast groups to bind to (legacy bitmask, rtnetlink RTMGRP_*). */
  groups?: number;
  /** SO_RCVBUF; default 1 MiB so big dumps and bursts of notifications do not overrun. */
  receiveBufferBytes?: number;
  /** The addon; injected by tests, loaded from the build directory otherwise. */
  native?: WeaveNative;
}

export interface RequestOptions {
  timeoutMs?: number;
}

/** Describes a request to the caller's logs and errors ("RTM_NEWLINK eth0"). */
type Describe = () => string;

interface Pending {
  type: number;
  flags: number;
  payload: Buffer;
  dump: boolean;
  replies: NetlinkMessage[];
  interrupted: boolean;
  retriesLeft: number;
  timer: NodeJS.Timeout;
  context: string;
  resolve: (msgs: NetlinkMessage[]) => void;
  reject: (err: Error) => void;
}

const DUMP_RETRIES = 5;
/** The kernel's usual send buffer (wmem_default): a request larger than this fails with
 *  EMSGSIZE unless the buffer grows first. */
const DEFAULT_SEND_BUFFER = 212_992;
/** Receive buffer each acknowledged message of a batch may take (an ack's skb, not its bytes). */
const ACK_BUFFER_BYTES = 1024;

export class NetlinkSocket {
  readonly protocol: number;
  readonly portId: number;
  private readonly handle: FdHandle;
  private readonly native: WeaveNative;
  private readonly pending = new Map<number, Pending>();
  private readonly timeoutMs: number;
  private nextSeq = 1;
  private sendBuffer = DEFAULT_SEND_BUFFER;
  private receiveBuffer: number;
  private listener: ((msg: NetlinkMessage) => void) | undefined;
  private errorListener: ((err: NetlinkError) => void) | undefined;
  private closed = false;

  private constructor(protocol: number, fd: number, native: WeaveNative, timeoutMs: number, receiveBuffer: number) {
    this.protocol = protocol;
    this.receiveBuffer = receiveBuffer;
    this.native = native;
    this.timeoutMs = timeoutMs;
    this.portId = native.netlinkPortId(fd);
    this.handle = new native.FdHandle(
      fd,
      'netlink',
      (data) => this.onDatagram(data),
      (err) => this.onSocketError(err),
    );
  }

  static open(protocol: number, opts: NetlinkSocketOptions = {}): NetlinkSocket {
    const native = opts.native ?? loadNative();
    const rcvbuf = opts.receiveBufferBytes ?? 1 << 20;
    const fd = native.openNetlink(protocol, opts.netns, rcvbuf, opts.groups ?? 0);
    return adoptFd(native, fd, () => new NetlinkSocket(protocol, fd, native, opts.timeoutMs ?? 5000, rcvbuf));
  }

  get fd(): number {
    return this.handle.fd;
  }

  /** Joins a multicast group (rtnetlink RTNLGRP_*, or a genetlink family's group id); the
   *  group's messages then arrive at the notification listener. */
  addMembership(group: number): void {
    this.native.netlinkAddMembership(this.handle.fd, group);
  }

  /** Socket-level errors. ENOBUFS means the kernel dropped messages for us: a notification
   *  consumer must resynchronise (dump) because it missed events. */
  onError(listener: ((err: NetlinkError) => void) | undefined): void {
    this.errorListener = listener;
  }

  /** Receive messages nobody asked for (multicast notifications). */
  onNotification(listener: ((msg: NetlinkMessage) => void) | undefined): void {
    this.listener = listener;
  }

  /**
   * Sends one request. Non-dump requests always ask for an ack, so every request ends in a
   * definite answer: resolves with the replies that came before the ack (e.g. a GET's answer),
   * rejects with NetlinkError on a negative ack. Dumps (NLM_F_DUMP) resolve with all parts up
   * to NLMSG_DONE and are retried when the kernel marks them interrupted (NLM_F_DUMP_INTR).
   */
  request(type: number, flags: number, payload: Buffer, opts: RequestOptions & { describe?: Describe } = {}): Promise<NetlinkMessage[]> {
    if (this.closed) return Promise.reject(new NetlinkError(errnoNumber('EBADF') ?? 9, 'netlink socket closed'));
    const dump = (flags & NLM_F_DUMP) === NLM_F_DUMP;
    const finalFlags = NLM_F_REQUEST | (dump ? flags & ~NLM_F_ACK : flags | NLM_F_ACK);
    const context = opts.describe?.() ?? `netlink request type ${type}`;
    return new Promise<NetlinkMessage[]>((resolve, reject) => {
      const entry: Pending = {
        type,
        flags: finalFlags,
        payload,
        dump,
        replies: [],
        interrupted: false,
        retriesLeft: DUMP_RETRIES,
        timer: undefined as unknown as NodeJS.Timeout,
        context,
        resolve,
        reject,
      };
      entry.timer = setTimeout(() => {
        this.settle(entry, new NetlinkError(errnoNumber('ETIMEDOUT') ?? 110, `${context}: no reply in ${opts.timeoutMs ?? this.timeoutMs} ms`));
      }, opts.timeoutMs ?? this.timeoutMs);
      this.send(entry);
    });
  }

  /**
   * Sends several messages in one datagram, as nfnetlink's batches need (BATCH_BEGIN, the
   * changes, BATCH_END: one transaction). Messages marked `ack` get NLM_F_ACK; resolves once
   * each of those is acknowledged, rejects with the first negative ack (the kernel then aborts
   * the whole batch, so nothing of it applies).
   */
  requestBatch(messages: { type: number; flags: number; payload: Buffer; ack: boolean }[], opts: RequestOptions & { describe?: Describe } = {}): Promise<void> {
    if (this.closed) return Promise.reject(new NetlinkError(errnoNumber('EBADF') ?? 9, 'netlink socket closed'));
    const context = opts.describe?.() ?? 'netlink batch';
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const entries: Pending[] = [];
    const waits: Promise<NetlinkMessage[]>[] = [];
    const parts: Buffer[] = [];
    for (const m of messages) {
      const flags = NLM_F_REQUEST | m.flags | (m.ack ? NLM_F_ACK : 0);
      if (!m.ack) {
        parts.push(encodeMessage({ type: m.type, flags, seq: this.allocSeq(), pid: this.portId, payload: m.payload }));
        continue;
      }
      let entry!: Pending;
      waits.push(
        new Promise<NetlinkMessage[]>((resolve, reject) => {
          entry = { type: m.type, flags, payload: m.payload, dump: false, replies: [], interrupted: false, retriesLeft: 0, timer: undefined as unknown as NodeJS.Timeout, context, resolve, reject };
        }),
      );
      entry.timer = setTimeout(() => {
        this.settle(entry, new NetlinkError(errnoNumber('ETIMEDOUT') ?? 110, `${context}: no reply in ${timeoutMs} ms`));
      }, timeoutMs);
      const seq = this.allocSeq();
      if (this.pending.size === 0) this.handle.ref();
      this.pending.set(seq, entry);
      entries.push(entry);
      parts.push(encodeMessage({ type: m.type, flags, seq, pid: this.portId, payload: m.payload }));
    }
    try {
      const batch = Buffer.concat(parts);
      this.fitBuffers(batch.length, entries.length);
      this.handle.send(batch);
    } catch (err) {
      const e = err as NativeError;
      for (const entry of entries) this.settle(entry, new NetlinkError(e.errno ?? 5, `${context}: send`));
    }
    return Promise.all(waits).then(
      () => undefined,
      (err: unknown) => {
        // The batch failed as a whole: stop waiting for the acks that will never come.
        for (const entry of entries) this.settle(entry, []);
        throw err;
      },
    );
  }

  /** A batch goes to the kernel as one datagram that must fit the send buffer, and its acks
   *  must fit the receive buffer (a lost ack would look like a timeout): nf_tables rulesets
   *  grow with networks and containers, so the buffers grow with them, as nft's do. */
  private fitBuffers(bytes: number, acks: number): void {
    const snd = bytes + 4096 > this.sendBuffer ? 2 * bytes : 0;
    const rcv = acks * ACK_BUFFER_BYTES > this.receiveBuffer ? 2 * acks * ACK_BUFFER_BYTES : 0;
    if (snd === 0 && rcv === 0) return;
    this.native.netlinkSetBuffers(this.handle.fd, snd, rcv);
    if (snd > 0) this.sendBuffer = snd;
    if (rcv > 0) this.receiveBuffer = rcv;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
    for (const entry of [...this.pending.values()]) {
      this.settle(entry, new NetlinkError(errnoNumber('ECANCELED') ?? 125, `${entry.context}: socket closed`));
    }
  }

  private allocSeq(): number {
    for (;;) {
      const seq = this.nextSeq;
      this.nextSeq = this.nextSeq >= 0xffffffff ? 1 : this.nextSeq + 1;
      if (!this.pending.has(seq)) return seq;
    }
  }

  private send(entry: Pending): void {
    const seq = this.allocSeq();
    const bytes = encodeMessage({ type: entry.type, flags: entry.flags, seq, pid: this.portId, payload: entry.payload });
    if (this.pending.size === 0) this.handle.ref();
    this.pending.set(seq, entry);
    try {
      this.handle.send(bytes);
    } catch (err) {
      const e = err as NativeError;
      this.settle(entry, new NetlinkError(e.errno ?? 5, `${entry.context}: send`));
    }
  }

  /** Removes the entry wherever it is pending and resolves/rejects it exactly once. */
  private settle(entry: Pending, result: Error | NetlinkMessage[]): void {
    let found = false;
    for (const [seq, e] of this.pending) {
      if (e === entry) {
        this.pending.delete(seq);
        found = true;
        break;
      }
    }
    if (!found) return;
    clearTimeout(entry.timer);
    if (this.pending.size === 0 && !this.closed) this.handle.unref();
    if (result instanceof Error) entry.reject(result);
    else entry.resolve(result);
  }

  private onDatagram(data: Buffer): void {
    let messages: NetlinkMessage[];
    try {
      messages = decodeMessages(data);
    } catch {
      // A corrupt datagram cannot be attributed to a request; the request will time out.
      return;
    }
    for (const msg of messages) this.onMessage(msg);
  }

  private onMessage(msg: NetlinkMessage): void {
    const entry = msg.seq !== 0 ? this.pending.get(msg.seq) : undefined;
    if (entry === undefined) {
      // Notifications: kernel-originated ones carry seq 0; those caused by another socket's
      // request (genetlink families such as ovs_vport) carry that socket's seq and port id.
      const othersRequest = msg.pid !== 0 && msg.pid !== this.portId;
      if ((msg.seq === 0 || othersRequest) && this.listener !== undefined) this.listener(msg);
      return;
    }
    if (msg.type === NLMSG_NOOP || msg.type === NLMSG_OVERRUN) return;
    if ((msg.flags & NLM_F_DUMP_INTR) !== 0) entry.interrupted = true;

    if (msg.type === NLMSG_ERROR) {
      let decoded;
      try {
        decoded = decodeErrorPayload(msg.payload, msg.flags);
      } catch (err) {
        this.settle(entry, err as Error);
        return;
      }
      if (decoded.errno === 0) this.settle(entry, entry.replies);
      else this.settle(entry, new NetlinkError(decoded.errno, entry.context, decoded.message));
      return;
    }
    if (msg.type === NLMSG_DONE && entry.dump) {
      const status = msg.payload.length >= 4 ? readI32(msg.payload, 0) : 0;
      if (status < 0) {
        this.settle(entry, new NetlinkError(-status, entry.context));
        return;
      }
      if (entry.interrupted && entry.retriesLeft > 0) {
        // The table changed during the dump: the parts may be inconsistent, so start over.
        entry.retriesLeft--;
        entry.interrupted = false;
        entry.replies = [];
        for (const [seq, e] of this.pending) {
          if (e === entry) {
            this.pending.delete(seq);
            break;
          }
        }
        this.send(entry);
        return;
      }
      this.settle(entry, entry.replies);
      return;
    }
    entry.replies.push(msg);
  }

  private onSocketError(err: NativeError): void {
    this.errorListener?.(new NetlinkError(err.errno, `netlink socket: ${err.syscall ?? 'recv'}`));
    // ENOBUFS: the kernel dropped messages for us, so any pending reply may be lost.
    for (const entry of [...this.pending.values()]) {
      this.settle(entry, new NetlinkError(err.errno, `${entry.context}: ${err.message}`));
    }
  }
}
