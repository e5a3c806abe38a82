// One connection's fastdp health: heartbeats over the kernel path, acknowledged over TCP, both
// ways. Healthy = our full-size heartbeats are acknowledged AND theirs reach us, each within
// `unhealthyAfterMs`. Unlike Weave (where a failed fastdp forwarder was lost until reconnect)
// health is reversible: heartbeats never stop, so the switch returns to fastdp by itself.
//
// Two sizes are sent each interval: a full one (Ethernet header + overlay MTU, the largest data
// frame) and a small one, so that "nothing arrives" (port blocked) and "only small frames arrive"
// (underlay MTU too small) can be told apart in the reason.
import { EventEmitter } from 'node:events';
import type { Logger } from 'winston';
import type { PeerName } from '../mesh/contract.ts';
import type { FastPath } from '../../datapath/fastpath/contract.ts';
import { HEARTBEAT_HEADER } from '../../datapath/fastpath/contract.ts';
import { FASTDP_HEARTBEAT_ACK, decodeAck, encodeAck, encodeHeartbeat } from './fastdp-heartbeat.ts';

/** IPv4 + UDP + VXLAN headers around the Ethernet frame on the underlay. */
export const VXLAN_OUTER_OVERHEAD = 36;
const SMALL_FRAME = 590;

export interface FastdpTiming {
  /** Heartbeat interval (both sizes). */
  intervalMs: number;
  /** Without acks or heartbeats for this long the connection is unhealthy (switch ≤ 5 s). */
  unhealthyAfterMs: number;
}

export const DEFAULT_FASTDP_TIMING: FastdpTiming = { intervalMs: 500, unhealthyAfterMs: 3000 };

export interface FastdpForwarderParams {
  fastPath: FastPath;
  ourName: PeerName;
  remotePeer: PeerName;
  remoteIp: string;
  connUid: bigint;
  sendControl: (tag: number, body: Buffer) => void;
  logger: Logger;
  timing?: Partial<FastdpTiming>;
  now?: () => number;
}

export interface FastdpForwarderEvents {
  /** First time healthy. */
  established: () => void;
  /** Health changed (after established, or unhealthy before it). */
  health: (healthy: boolean) => void;
  error: (err: Error) => void;
}

export class FastdpForwarder extends EventEmitter {
  readonly remotePeer: PeerName;
  readonly remoteIp: string;
  readonly connUid: bigint;
  private readonly p: FastdpForwarderParams;
  private readonly timing: FastdpTiming;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly fullSize: number;
  private readonly smallSize: number;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private startedAt = 0;
  private lastAckFull = -Infinity;
  private lastAckSmall = -Infinity;
  private lastRxFull = -Infinity;
  private lastRxSmall = -Infinity;
  private healthyNow = false;
  private everHealthy = false;
  private stopped = false;

  constructor(p: FastdpForwarderParams) {
    super();
    this.p = p;
    this.remotePeer = p.remotePeer;
    this.remoteIp = p.remoteIp;
    this.connUid = p.connUid;
    this.timing = { ...DEFAULT_FASTDP_TIMING, ...p.timing };
    this.now = p.now ?? Date.now;
    this.log = p.logger.child({ peer: p.remotePeer });
    this.fullSize = HEARTBEAT_HEADER + p.fastPath.mtu;
    this.smallSize = Math.min(SMALL_FRAME, this.fullSize);
  }

  get mtu(): number {
    return this.p.fastPath.mtu;
  }

  get healthy(): boolean {
    return this.healthyNow;
  }

  /** Starts heartbeats (the fast path must know the peer by now). */
  confirm(): void {
    if (this.timer || this.stopped) return;
    this.startedAt = this.now();
    this.timer = setInterval(() => this.tick(), this.timing.intervalMs);
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A heartbeat of ours came back acknowledged (tag 7, our index, sub-tag 0). */
  controlMessage(tag: number, body: Buffer): void {
    if (tag !== FASTDP_HEARTBEAT_ACK) {
      this.log.debug(`Ignoring fastdp control message ${tag}`);
      return;
    }
    const ack = decodeAck(body);
    if (!ack) return;
    if (ack.frameSize === this.fullSize) this.lastAckFull = this.now();
    else if (ack.frameSize === this.smallSize) this.lastAckSmall = this.now();
    this.evaluate();
  }

  /** A heartbeat from the remote arrived over the kernel path: acknowledge it over TCP. */
  heartbeatReceived(frameSize: number, seq: number): void {
    if (this.stopped) return;
    if (frameSize === this.fullSize) this.lastRxFull = this.now();
    else this.lastRxSmall = this.now();
    try {
      this.p.sendControl(FASTDP_HEARTBEAT_ACK, encodeAck(frameSize, seq));
    } catch (err) {
      this.stop();
      this.emit('error', err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.evaluate();
  }

  /** Why this connection is not on fastdp now, or undefined when it is healthy. */
  reason(): string | undefined {
    if (this.healthyNow) return undefined;
    const t = this.now();
    const window = this.timing.unhealthyAfterMs;
    const starting = !this.everHealthy && t - this.startedAt < window;
    const ackFull = t - this.lastAckFull <= window;
    const rxFull = t - this.lastRxFull <= window;
    const secsSince = (at: number): number => Math.round((t - (Number.isFinite(at) ? at : this.startedAt)) / 1000);
    if (ackFull || rxFull) {
      if (starting) return 'confirming fastdp heartbeats';
      const lost = ackFull ? this.lastRxFull : this.lastAckFull;
      return `UDP ${this.p.fastPath.udpPort} unreachable one way: no heartbeat ${ackFull ? 'from' : 'to'} the peer for ${secsSince(lost)}s`;
    }
    const smallOk = t - this.lastAckSmall <= window || t - this.lastRxSmall <= window;
    if (smallOk) {
      return `underlay MTU too small for overlay MTU ${this.mtu} (heartbeat of ${this.fullSize + VXLAN_OUTER_OVERHEAD} bytes lost; smaller ones pass)`;
    }
    if (starting) return 'probing fastdp';
    return `UDP ${this.p.fastPath.udpPort} unreachable: no heartbeat for ${secsSince(Math.max(this.lastAckFull, this.lastRxFull))}s`;
  }

  private tick(): void {
    if (this.stopped) return;
    for (const size of this.smallSize === this.fullSize ? [this.fullSize] : [this.fullSize, this.smallSize]) {
      const payload = encodeHeartbeat({ sender: this.p.ourName, connUid: this.connUid, frameSize: size, seq: this.seq++ });
      this.p.fastPath.sendHeartbeat(this.remotePeer, payload, size);
    }
    this.evaluate();
  }

  private evaluate(): void {
    const t = this.now();
    const window = this.timing.unhealthyAfterMs;
    const healthy = t - this.lastAckFull <= window && t - this.lastRxFull <= window;
    if (healthy === this.healthyNow) return;
    this.healthyNow = healthy;
    if (healthy && !this.everHealthy) {
      this.everHealthy = true;
      this.emit('established');
    }
    if (!healthy) this.log.warn(`fastdp to ${this.remotePeer} unhealthy: ${this.reason() ?? ''}`);
    else this.log.info(`fastdp to ${this.remotePeer} healthy`);
    this.emit('health', healthy);
  }

  override on<E extends keyof FastdpForwarderEvents>(event: E, listener: FastdpForwarderEvents[E]): this {
    return super.on(event, listener);
  }

  override off<E extends keyof FastdpForwarderEvents>(event: E, listener: FastdpForwarderEvents[E]): this {
    return super.off(event, listener);
  }
}
