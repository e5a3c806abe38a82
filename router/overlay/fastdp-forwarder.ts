// One connection's fastdp health: heartbeats over the kernel path, acknowledged over TCP, both
// ways. Healthy = our full-size heartbeats are acknowledged AND theirs reach us, each within
// `unhealthyAfterMs`. Unlike Weave (where a failed fastdp forwarder was lost until reconnect)
// health is reversible: heartbeats never stop, so the switch returns to fastdp by itself.
//
// Until healthy, two sizes are sent each interval: a full one (Ethernet header + overlay MTU, the
// largest data frame) and a small one, so that "nothing arrives" (port blocked) and "only small
// frames arrive" (underlay MTU too small) can be told apart in the reason. Once healthy only the
// full one goes, at `healthyIntervalMs`: the small one explains a failure and is back as soon as
// the connection turns unhealthy. Every heartbeat costs a timer, a kernel send and a TCP ack at
// each end, per connection: in a 50-peer mesh the fast rate alone kept each idle daemon busy.
//
// A Weave router as the remote (it does not advertise FASTDP_HEALTH_FEATURE) acknowledges only
// its first heartbeat and then sends one every 10 s, giving up after 60 s without ours. With it
// we keep its rules: full-size heartbeats, every 500 ms until acknowledged and every 10 s after;
// healthy once acknowledged while its heartbeats keep arriving within 60 s.
import { EventEmitter } from 'node:events';
import type { Logger } from 'winston';
import type { PeerName } from '../mesh/contract.ts';
import type { FastPath } from '../../datapath/fastpath/contract.ts';
import { HEARTBEAT_HEADER } from '../../datapath/fastpath/contract.ts';
import { FASTDP_HEARTBEAT_ACK, decodeAck, encodeAck, encodeHeartbeat } from './fastdp-heartbeat.ts';
import type { FastdpIpsec } from '../../datapath/ipsec/contract.ts';
import { FASTDP_CRYPTO_INIT_SA_REMOTE, decodeInitSaRemote, deriveIpsecKey, encodeInitSaRemote, randomIpsecNonce } from './fastdp-ipsec-message.ts';

/** Handshake feature of peers that run our two-way heartbeat health; Weave routers lack it. */
export const FASTDP_HEALTH_FEATURE = 'FastdpHealth';
export const FASTDP_HEALTH_VERSION = '1';

/** IPv4 + UDP + VXLAN headers around the Ethernet frame on the underlay. */
export const VXLAN_OUTER_OVERHEAD = 36;
const SMALL_FRAME = 590;

export interface FastdpTiming {
  /** Heartbeat interval until healthy (both sizes). */
  intervalMs: number;
  /** Heartbeat interval while healthy (full size only); a third of unhealthyAfterMs or less, so
   *  that two lost heartbeats do not make a healthy connection flap. */
  healthyIntervalMs: number;
  /** Without acks or heartbeats for this long the connection is unhealthy (switch ≤ 5 s). */
  unhealthyAfterMs: number;
  /** With a Weave router: interval once acknowledged, and its give-up time. */
  weaveSlowIntervalMs: number;
  weaveTimeoutMs: number;
}

export const DEFAULT_FASTDP_TIMING: FastdpTiming = { intervalMs: 500, healthyIntervalMs: 1000, unhealthyAfterMs: 3000, weaveSlowIntervalMs: 10_000, weaveTimeoutMs: 60_000 };

export interface FastdpForwarderParams {
  fastPath: FastPath;
  ourName: PeerName;
  remotePeer: PeerName;
  remoteIp: string;
  connUid: bigint;
  /** The remote is a Weave router (no FASTDP_HEALTH_FEATURE): its heartbeat rules apply. */
  weavePeer?: boolean;
  sendControl: (tag: number, body: Buffer) => void;
  logger: Logger;
  timing?: Partial<FastdpTiming>;
  now?: () => number;
  /** Encrypt this connection's fast path: the kernel's ESP, keyed from the mesh session key. */
  ipsec?: { ops: FastdpIpsec; sessionKey: Uint8Array; localIp: string };
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
  readonly weavePeer: boolean;
  private readonly p: FastdpForwarderParams;
  private readonly timing: FastdpTiming;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly fullSize: number;
  private readonly smallSize: number;
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private lastSent = -Infinity;
  private startedAt = 0;
  private lastAckFull = -Infinity;
  private lastAckSmall = -Infinity;
  private lastRxFull = -Infinity;
  private lastRxSmall = -Infinity;
  private healthyNow = false;
  private everHealthy = false;
  private stopped = false;
  private confirmed = false;
  /** IPsec: our inbound SPI, the peer's (outbound), and why it failed. Heartbeats start only
   *  once the outbound SA exists (as in Weave), so none ever goes out before it can be encrypted. */
  private inSpi: number | undefined;
  private outSpi: number | undefined;
  private ipsecError: string | undefined;

  constructor(p: FastdpForwarderParams) {
    super();
    this.p = p;
    this.remotePeer = p.remotePeer;
    this.remoteIp = p.remoteIp;
    this.connUid = p.connUid;
    this.weavePeer = p.weavePeer === true;
    this.timing = { ...DEFAULT_FASTDP_TIMING, ...p.timing };
    this.now = p.now ?? Date.now;
    this.log = p.logger.child({ peer: p.remotePeer });
    this.fullSize = HEARTBEAT_HEADER + p.fastPath.mtu;
    this.smallSize = this.weavePeer ? this.fullSize : Math.min(SMALL_FRAME, this.fullSize);
  }

  get mtu(): number {
    return this.p.fastPath.mtu;
  }

  get healthy(): boolean {
    return this.healthyNow;
  }

  get encrypted(): boolean {
    return this.p.ipsec !== undefined;
  }

  /** Starts heartbeats (the fast path must know the peer by now); with IPsec, first the
   *  inbound SA, whose SPI and nonce go to the peer. */
  confirm(): void {
    if (this.confirmed || this.stopped) return;
    this.confirmed = true;
    this.startedAt = this.now();
    if (this.p.ipsec) {
      void this.initInbound(this.p.ipsec);
      if (this.outSpi === undefined) return;
    }
    this.startHeartbeats();
  }

  private startHeartbeats(): void {
    if (this.timer || this.stopped) return;
    this.startedAt = this.now();
    this.schedule(this.timing.intervalMs);
    this.tick();
  }

  private schedule(intervalMs: number): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const ipsec = this.p.ipsec;
    if (ipsec && (this.inSpi !== undefined || this.outSpi !== undefined)) {
      const spis = { ...(this.inSpi !== undefined ? { inbound: this.inSpi } : {}), ...(this.outSpi !== undefined ? { outbound: this.outSpi } : {}) };
      ipsec.ops
        .destroy(this.ends(ipsec), spis)
        .catch((err: unknown) => this.log.warn(`removing IPsec SAs for ${this.remotePeer}: ${err instanceof Error ? err.message : String(err)}`));
    }
  }

  private ends(ipsec: NonNullable<FastdpForwarderParams['ipsec']>): { local: string; remote: string } {
    return { local: ipsec.localIp, remote: this.remoteIp };
  }

  private ipsecFailed(what: string, err: unknown): void {
    this.ipsecError = `${what}: ${err instanceof Error ? err.message : String(err)}`;
    this.log.warn(`IPsec with ${this.remotePeer} failed, the connection stays on encrypted sleeve: ${this.ipsecError}`);
    this.evaluate();
  }

  /** Our direction in: the peer's traffic to us is decrypted with a key only we and it know. */
  private async initInbound(ipsec: NonNullable<FastdpForwarderParams['ipsec']>): Promise<void> {
    try {
      const nonce = randomIpsecNonce();
      const key = deriveIpsecKey(ipsec.sessionKey, nonce, this.p.ourName);
      const spi = await ipsec.ops.initInbound(this.ends(ipsec), key);
      if (this.stopped) {
        await ipsec.ops.destroy(this.ends(ipsec), { inbound: spi });
        return;
      }
      this.inSpi = spi;
      this.p.sendControl(FASTDP_CRYPTO_INIT_SA_REMOTE, encodeInitSaRemote({ nonce, spi }));
    } catch (err) {
      this.ipsecFailed('inbound SA', err);
    }
  }

  /** The peer's CryptoInitSARemote: our direction out. It may arrive before confirm(). */
  private async initOutbound(ipsec: NonNullable<FastdpForwarderParams['ipsec']>, body: Buffer): Promise<void> {
    try {
      const msg = decodeInitSaRemote(body);
      const key = deriveIpsecKey(ipsec.sessionKey, msg.nonce, this.remotePeer);
      await ipsec.ops.initOutbound(this.ends(ipsec), msg.spi, key);
      if (this.stopped) {
        await ipsec.ops.destroy(this.ends(ipsec), { outbound: msg.spi });
        return;
      }
      this.outSpi = msg.spi;
      if (this.confirmed) this.startHeartbeats();
    } catch (err) {
      this.ipsecFailed('outbound SA', err);
    }
  }

  /** A heartbeat of ours came back acknowledged (tag 7, our index, sub-tag 0). */
  controlMessage(tag: number, body: Buffer): void {
    if (tag === FASTDP_CRYPTO_INIT_SA_REMOTE && this.p.ipsec && !this.stopped) {
      if (this.outSpi !== undefined) {
        this.log.debug(`Ignoring a second CryptoInitSARemote from ${this.remotePeer}`);
        return;
      }
      void this.initOutbound(this.p.ipsec, body);
      return;
    }
    if (tag !== FASTDP_HEARTBEAT_ACK) {
      this.log.debug(`Ignoring fastdp control message ${tag}`);
      return;
    }
    const ack = decodeAck(body);
    if (!ack) return;
    // Weave's ack names no heartbeat: it only sends one, for a full-size heartbeat of ours
    if (ack.frameSize === undefined || ack.frameSize === this.fullSize) this.lastAckFull = this.now();
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
    if (this.ipsecError !== undefined) return `IPsec: ${this.ipsecError}`;
    if (this.healthyNow) return undefined;
    const t = this.now();
    if (this.p.ipsec && this.outSpi === undefined) return 'setting up IPsec (waiting for the peer\'s SPI)';
    if (this.weavePeer) {
      if (!Number.isFinite(this.lastAckFull)) return 'waiting for the Weave peer to acknowledge a fastdp heartbeat';
      return `no fastdp heartbeat from the Weave peer for ${Math.round((t - (Number.isFinite(this.lastRxFull) ? this.lastRxFull : this.startedAt)) / 1000)}s`;
    }
    const window = this.timing.unhealthyAfterMs;
    const starting = !this.everHealthy && t - this.startedAt < window;
    const ackFull = t - this.lastAckFull <= window;
    const rxFull = t - this.lastRxFull <= window;
    const secsSince = (at: number): number => Math.round((t - (Number.isFinite(at) ? at : this.startedAt)) / 1000);
    if (ackFull || rxFull) {
      if (starting) return 'confirming fastdp heartbeats';
      const lost = ackFull ? this.lastRxFull : this.lastAckFull;
      return `${this.underlayPath()} unreachable one way: no heartbeat ${ackFull ? 'from' : 'to'} the peer for ${secsSince(lost)}s`;
    }
    const smallOk = t - this.lastAckSmall <= window || t - this.lastRxSmall <= window;
    if (smallOk) {
      return `underlay MTU too small for overlay MTU ${this.mtu} (heartbeat of ${this.fullSize + VXLAN_OUTER_OVERHEAD} bytes lost; smaller ones pass)`;
    }
    if (starting) return 'probing fastdp';
    return `${this.underlayPath()} unreachable: no heartbeat for ${secsSince(Math.max(this.lastAckFull, this.lastRxFull))}s`;
  }

  /** What carries heartbeats on the underlay, for reasons: encrypted, they travel as ESP. */
  private underlayPath(): string {
    return this.p.ipsec ? `ESP (IP protocol 50) or UDP ${this.p.fastPath.udpPort}` : `UDP ${this.p.fastPath.udpPort}`;
  }

  private tick(): void {
    if (this.stopped) return;
    const t = this.now();
    // Weave wants no more than its own pace once it has acknowledged
    const due = !this.weavePeer || !Number.isFinite(this.lastAckFull) || t - this.lastSent >= this.timing.weaveSlowIntervalMs;
    if (due) {
      this.lastSent = t;
      // A missed full-size ack brings the small heartbeat back while still healthy: by the time
      // the window runs out its ack has come, so the reason can say "MTU" and not "unreachable".
      const overdue = Math.min(1.5 * this.timing.healthyIntervalMs, this.timing.unhealthyAfterMs / 2);
      const suspect = !this.weavePeer && (t - this.lastAckFull > overdue || t - this.lastRxFull > overdue);
      for (const size of this.smallSize === this.fullSize || (this.healthyNow && !suspect) ? [this.fullSize] : [this.fullSize, this.smallSize]) {
        const payload = encodeHeartbeat({ connUid: this.connUid, frameSize: size, ext: { sender: this.p.ourName, seq: this.seq++ } });
        this.p.fastPath.sendHeartbeat(this.remotePeer, payload, size);
      }
    }
    this.evaluate();
  }

  private evaluate(): void {
    const t = this.now();
    const healthy = this.ipsecError === undefined && (this.weavePeer
      ? Number.isFinite(this.lastAckFull) && t - this.lastRxFull <= this.timing.weaveTimeoutMs
      : t - this.lastAckFull <= this.timing.unhealthyAfterMs && t - this.lastRxFull <= this.timing.unhealthyAfterMs);
    if (healthy === this.healthyNow) return;
    this.healthyNow = healthy;
    // Weave peers keep their own pace (tick() decides); ours get the slower rate while healthy
    if (!this.weavePeer && this.timer && !this.stopped) this.schedule(healthy ? this.timing.healthyIntervalMs : this.timing.intervalMs);
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
