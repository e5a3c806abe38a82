// Capture and injection on the bridge through a TAP device (Weave used libpcap on the veth
// "vethwe-pcap"; a TAP gives us frames with one read per frame and no BPF, and the addon reads
// them in batches). The TAP is enslaved to the bridge with the bridge's MTU: frames the bridge
// floods or forwards to it are captured; frames we write to it enter the bridge as if they came
// from the wire.
//
// Checksums and offloads: by default the TAP advertises no checksum offload or TSO, so the
// kernel completes partial checksums and segments GSO packets from container veths before
// handing them to us, one read per frame. With `offloads` the TAP has IFF_VNET_HDR and takes
// TSO/checksum offload: a read is then a TCP super-frame of up to 64 KiB straight from the
// container's stack, which our native code cuts into the same ordinary, complete frames (so
// nothing above this file changes, and peers see what they always saw) — one syscall and no
// kernel segmentation per 40-odd frames. Container veths need no ethtool changes either way.
import type { Logger } from 'winston';
import { loadDataPlaneNative } from '../native/index.ts';
import type { BatchHandle, BatchStats, DataPlaneNative, NativeError } from '../native/index.ts';
import { RtnetlinkClient } from '../netlink/rtnetlink/client.ts';
import type { CaptureStats, FrameCapture, FrameHandler } from './contract.ts';

/** Default device name: "vethwe-" like Weave's other bridge ports, 10 characters (limit 15). */
export const CAPTURE_TAP_NAME = 'vethwe-tap';
const SLOT_SIZE = 65536 + 64;
/** With offloads: frames of one wakeup are laid out in 4 MiB, at most 1024 of them. */
const VNET_POOL = 4 << 20;
const VNET_ENTRIES = 1024;

export interface CaptureOptions {
  /** TAP name (default vethwe-tap). */
  name?: string;
  /** Bridge to enslave the TAP to (default weave). Its MTU becomes the TAP's. */
  bridge?: string;
  netns?: string;
  logger: Logger;
  onFrame: FrameHandler;
  /** Frames read per wakeup (default 64; with offloads up to 1024 frames, 4 MiB). */
  batch?: number;
  /** IFF_VNET_HDR with TSO/checksum offload (default off); falls back to plain frames when
   *  the kernel refuses. */
  offloads?: boolean;
  native?: DataPlaneNative;
}

export class TapCapture implements FrameCapture {
  readonly name: string;
  readonly mtu: number;
  readonly stats: CaptureStats;
  private readonly handle: BatchHandle;
  private readonly log: Logger;
  // injection arena: frames are copied here and written in one batch after the current turn
  private readonly out = Buffer.allocUnsafeSlow(4 << 20);
  private readonly desc = new Uint32Array(256 * 4);
  private outCount = 0;
  private outUsed = 0;
  private flushQueued = false;
  private readonly flushNow = () => this.flush();

  private constructor(name: string, mtu: number, handle: BatchHandle, log: Logger, stats: CaptureStats) {
    this.stats = stats;
    this.name = name;
    this.mtu = mtu;
    this.handle = handle;
    this.log = log;
  }

  /** Creates the TAP, sets its MTU to the bridge's, enslaves it and brings it up. */
  static async open(opts: CaptureOptions): Promise<TapCapture> {
    const native = opts.native ?? loadDataPlaneNative();
    const name = opts.name ?? CAPTURE_TAP_NAME;
    const bridgeName = opts.bridge ?? 'weave';
    const log = opts.logger.child({ component: 'capture', device: name });
    const rtnl = RtnetlinkClient.open(opts.netns ? { netns: opts.netns } : {});
    try {
      const bridge = await rtnl.getLink(bridgeName);
      if (bridge === undefined) throw new Error(`capture: bridge ${bridgeName} does not exist`);
      const tap = native.openTap(name, opts.netns, opts.offloads ? { offloads: true } : undefined);
      let handle: BatchHandle | undefined;
      try {
        // a TAP opened for offloads carries vnet headers even if TUNSETOFFLOAD was refused
        const vnet = opts.offloads === true;
        const slots = opts.batch ?? 64;
        const pool = Buffer.allocUnsafeSlow(vnet ? VNET_POOL : slots * SLOT_SIZE);
        const meta = new Uint32Array((vnet ? VNET_ENTRIES : slots) * 4);
        const onFrame = opts.onFrame;
        const stats: CaptureStats = { captured: 0, injected: 0, injectDropped: 0 };
        handle = new native.BatchHandle(
          tap.fd,
          vnet ? 'tap-vnet' : 'tap',
          pool,
          SLOT_SIZE,
          meta,
          (count) => {
            stats.captured += count;
            for (let i = 0; i < count; i++) onFrame(pool, meta[i * 4 + 3]!, meta[i * 4]!);
          },
          (err: NativeError) => log.error(`TAP read failed: ${err.message}`),
        );
        // MTU before enslaving: a bridge without an explicit MTU would follow a smaller port's
        await rtnl.setLink(tap.name, { mtu: bridge.mtu });
        await rtnl.setLink(tap.name, { master: bridge.index, up: true });
        const off = vnet ? (tap.offloads ? ', offloads on' : ', offloads refused by the kernel') : '';
        log.info(`Capturing on ${tap.name} (bridge ${bridgeName}, MTU ${bridge.mtu}${off})`);
        return new TapCapture(tap.name, bridge.mtu, handle, log, stats);
      } catch (err) {
        if (handle) handle.close();
        else native.closeFd(tap.fd);
        throw err;
      }
    } finally {
      rtnl.close();
    }
  }

  /** Queues a frame for the bridge; written with the others of this turn in one go. */
  inject(buf: Buffer, off: number, len: number): void {
    if (this.outCount >= 256 || this.outUsed + len > this.out.length) this.flush();
    buf.copy(this.out, this.outUsed, off, off + len);
    const d = this.outCount * 4;
    this.desc[d] = this.outUsed;
    this.desc[d + 1] = len;
    this.outCount++;
    this.outUsed += len;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushNow);
    }
  }

  flush(): void {
    this.flushQueued = false;
    if (this.outCount === 0 || this.handle.closed) {
      this.outCount = 0;
      this.outUsed = 0;
      return;
    }
    let start = 0;
    while (start < this.outCount) {
      try {
        const n = this.handle.sendBatch(this.out, start === 0 ? this.desc : this.desc.subarray(start * 4), this.outCount - start);
        this.stats.injected += n;
        this.stats.injectDropped += this.outCount - start - n;
        break;
      } catch (err) {
        const e = err as NativeError & { index?: number };
        if (typeof e.index !== 'number') throw err;
        this.stats.injected += e.index;
        this.stats.injectDropped++;
        this.log.warn(`Injecting frame failed: ${e.message}`);
        start += e.index + 1;
      }
    }
    this.outCount = 0;
    this.outUsed = 0;
  }

  /** The native handle's counters (reads, super-frames segmented, malformed frames dropped). */
  nativeStats(): BatchStats {
    return this.handle.stats();
  }

  get closed(): boolean {
    return this.handle.closed;
  }

  /** Closes the device (the kernel removes it). */
  close(): void {
    this.handle.close();
  }
}
