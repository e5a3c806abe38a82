// A scripted stand-in for the addon, so NetlinkSocket's request bookkeeping can be tested
// without root: the test sees every request and decides what the "kernel" answers.
import type { FdHandle, FdKind, NativeError, WeaveNative } from '../../../datapath/native/index.ts';
import { decodeMessages, encodeMessage } from '../../../datapath/netlink/message.ts';
import type { NetlinkMessage } from '../../../datapath/netlink/message.ts';
import { NLMSG_DONE, NLMSG_ERROR } from '../../../datapath/netlink/constants.ts';

export class FakeKernel {
  readonly sent: NetlinkMessage[] = [];
  onRequest: (req: NetlinkMessage) => void = () => undefined;
  refed = false;
  closed = false;
  sendError: NativeError | undefined;
  private deliver: ((b: Buffer) => void) | undefined;
  private fail: ((e: NativeError) => void) | undefined;

  readonly native: WeaveNative;

  constructor(readonly portId = 4242) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const kernel = this;
    class Handle implements FdHandle {
      readonly fd: number;
      get closed(): boolean {
        return kernel.closed;
      }
      constructor(fd: number, _kind: FdKind, onMessage: (b: Buffer) => void, onError: (e: NativeError) => void) {
        this.fd = fd;
        kernel.deliver = onMessage;
        kernel.fail = onError;
      }
      send(data: Buffer): number {
        if (kernel.sendError !== undefined) throw kernel.sendError;
        for (const m of decodeMessages(data)) {
          kernel.sent.push(m);
          // answer asynchronously, as the real socket does
          queueMicrotask(() => kernel.onRequest(m));
        }
        return data.length;
      }
      close(): void {
        kernel.closed = true;
      }
      ref(): void {
        kernel.refed = true;
      }
      unref(): void {
        kernel.refed = false;
      }
    }
    this.native = {
      openNetlink: () => 100,
      netlinkPortId: () => this.portId,
      netlinkAddMembership: () => undefined,
      netlinkSetBuffers: () => undefined,
      openTap: () => ({ fd: 101, name: 'tap0' }),
      writeFileInNetns: () => undefined,
      closeFd: () => undefined,
      FdHandle: Handle,
    };
  }

  /** Deliver one datagram holding these messages. */
  reply(...msgs: NetlinkMessage[]): void {
    if (this.deliver === undefined) throw new Error('no socket open');
    this.deliver(Buffer.concat(msgs.map((m) => encodeMessage(m))));
  }

  socketError(code: string, errno: number): void {
    const e = Object.assign(new Error(code), { code, errno, syscall: 'recvmsg' }) as NativeError;
    this.fail?.(e);
  }

  static ack(req: NetlinkMessage, errno = 0): NetlinkMessage {
    const payload = Buffer.alloc(20);
    payload.writeInt32LE(-errno, 0);
    payload.writeUInt32LE(16 + req.payload.length, 4);
    payload.writeUInt16LE(req.type, 8);
    payload.writeUInt16LE(req.flags, 10);
    payload.writeUInt32LE(req.seq, 12);
    payload.writeUInt32LE(req.pid, 16);
    return { type: NLMSG_ERROR, flags: 0x100, seq: req.seq, pid: req.pid, payload };
  }

  static done(req: NetlinkMessage, flags = 2, status = 0): NetlinkMessage {
    const payload = Buffer.alloc(4);
    payload.writeInt32LE(status, 0);
    return { type: NLMSG_DONE, flags, seq: req.seq, pid: req.pid, payload };
  }
}
