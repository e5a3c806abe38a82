// One connection's sleeve data path (Weave's sleeveForwarder): heartbeats that establish the
// connection and learn/follow the remote's UDP address, batching of frames into packets on two
// streams (DF and non-DF), sealing with the connection's session key, and PMTU discovery.
//
// Everything runs on the event loop: frames are appended to per-stream accumulators, and the
// transport turns accumulators into datagrams once per turn (see SleeveOverlay.flush).
import { EventEmitter } from 'node:events';
import type { Logger } from 'winston';
import type { PeerName } from '../mesh/contract.ts';
import { formatIpv4 } from '../../common/ipv4.ts';
import type { SocketError } from '../../datapath/datagram/contract.ts';
import { SleeveControlTag } from './contract.ts';
import type { FrameConsumer, OverlayForwarder, OverlayForwarderAttrs, OverlayForwarderEvents } from './contract.ts';
import type { PacketOpener, PacketSealer } from './frame-crypto.ts';
import { fragmentIpv4, icmpFragNeeded, ipv4DfState } from './ipv4-frame.ts';
import type { PeerNameCache } from './peer-name-cache.ts';
import {
  ETHERNET_OVERHEAD,
  FRAG_TEST_SIZE,
  FRAME_OVERHEAD,
  MAX_UDP_PAYLOAD,
  PMTU_DISCOVERY_SIZE,
  UDP_OVERHEAD,
  allZero,
  dfOverhead,
  forEachFrame,
  heartbeatFrame,
  heartbeatUid,
  isSpecialFrame,
  pmtuVerifiedBody,
  specialKind,
  writeFrame,
} from './sleeve-packet.ts';

export interface SleeveTiming {
  /** First wait between heartbeats until the remote acknowledges one; doubled up to
   *  fastHeartbeatMs. A heartbeat that reaches the remote before its end of the connection is
   *  registered is dropped there, and waiting the full fast interval for the next one would
   *  add half a second to every connect where the two ends race. */
  firstHeartbeatMs: number;
  fastHeartbeatMs: number;
  slowHeartbeatMs: number;
  heartbeatTimeoutMs: number;
  fragTestIntervalMs: number;
  /** First PMTU test wait; doubled per retry. */
  mtuVerifyTimeoutMs: number;
  mtuVerifyAttempts: number;
}

export const DEFAULT_SLEEVE_TIMING: SleeveTiming = {
  firstHeartbeatMs: 25,
  fastHeartbeatMs: 500,
  slowHeartbeatMs: 10_000,
  heartbeatTimeoutMs: 60_000,
  fragTestIntervalMs: 5 * 60_000,
  mtuVerifyTimeoutMs: 10,
  mtuVerifyAttempts: 8,
};

/** Frames per UDP packet at most (Weave's aggregation limit). */
const MAX_FRAMES_PER_PACKET = 100;
/** PMTU search floor (the smallest MTU every IPv4 path must carry plus headers, per Weave). */
const MTU_SEARCH_FLOOR = 552;

/** What a forwarder needs from the overlay that owns the sockets. */
export interface SleeveTransport {
  readonly ourName: PeerName;
  readonly ourNumber: number;
  readonly names: PeerNameCache;
  /** At least FRAG_TEST_SIZE zero bytes (special frames are all zero apart from heartbeats). */
  readonly zeros: Buffer;
  readonly timing: SleeveTiming;
  /** Seals frames[0, len) into a datagram for ip:port on the DF or non-DF socket; the datagram
   *  is sent at the next flush. Errors come back through owner.sendFailed. */
  emit(df: boolean, sealer: PacketSealer, frames: Buffer, len: number, ip: number, port: number, owner: SleeveForwarder): void;
  /** Arranges a flush at the end of this turn. */
  scheduleFlush(): void;
  register(fwd: SleeveForwarder): void;
  unregister(fwd: SleeveForwarder): void;
  /** The kernel's path MTU towards ip:port (IP_MTU of a connected probe socket). */
  pathMtu(ip: number, port: number): number;
  consumer(): FrameConsumer | undefined;
  knownPeer(name: PeerName): boolean;
}

export interface SleeveForwarderParams {
  transport: SleeveTransport;
  remotePeer: PeerName;
  outbound: boolean;
  connUid: bigint;
  /** For outbound connections: where to send until the remote's heartbeats say otherwise. */
  remoteIp?: number;
  remotePort?: number;
  sealer: PacketSealer;
  sealerDF: PacketSealer;
  opener: PacketOpener;
  encrypted: boolean;
  /** Initial overlay MTU (the bridge's), until PMTU discovery finds the real one. */
  mtu: number;
  sendControl: (tag: number, body: Buffer) => void;
  logger: Logger;
}

/** Frames waiting to become one packet. */
class Accumulator {
  readonly buf = Buffer.allocUnsafeSlow(MAX_UDP_PAYLOAD);
  len = 0;
  count = 0;
}

export interface SleeveForwarderStats {
  framesSent: number;
  framesReceived: number;
  dropped: number;
  badPackets: number;
}

export class SleeveForwarder extends EventEmitter implements OverlayForwarder {
  readonly remotePeer: PeerName;
  readonly remoteNumber: number;
  readonly stats: SleeveForwarderStats = { framesSent: 0, framesReceived: 0, dropped: 0, badPackets: 0 };
  private readonly t: SleeveTransport;
  private readonly outbound: boolean;
  private readonly connUid: bigint;
  private readonly sealer: PacketSealer;
  private readonly sealerDF: PacketSealer;
  private readonly opener: PacketOpener;
  private readonly encrypted: boolean;
  private readonly sendControlMsg: (tag: number, body: Buffer) => void;
  private readonly log: Logger;
  private readonly overheadDF: number;
  private readonly acc = new Accumulator();
  private readonly accDF = new Accumulator();
  private readonly fragScratch = Buffer.allocUnsafeSlow(MAX_UDP_PAYLOAD);

  private remoteIp = 0;
  private remotePort = 0;
  private mtu: number;
  private maxPayload = MAX_UDP_PAYLOAD;
  private stackFrag = false;
  private confirmed = false;
  private stopped = false;
  private isEstablished = false;
  private ackedHeartbeat = false;
  private heartbeatInterval = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatTimeout: NodeJS.Timeout | undefined;
  private fragTestTimer: NodeJS.Timeout | undefined;
  private mtuTestTimer: NodeJS.Timeout | undefined;
  private mtuTestsSent = 0;
  private mtuHighestGood = 0;
  private mtuLowestBad = 0;
  private mtuCandidate = 0;
  // source of the packet being walked by onFrame (kept here so the visitor allocates nothing)
  private rxIp = 0;
  private rxPort = 0;

  constructor(p: SleeveForwarderParams) {
    super();
    this.t = p.transport;
    this.remotePeer = p.remotePeer;
    this.remoteNumber = p.transport.names.toNumber(p.remotePeer);
    this.outbound = p.outbound;
    this.connUid = p.connUid;
    this.sealer = p.sealer;
    this.sealerDF = p.sealerDF;
    this.opener = p.opener;
    this.encrypted = p.encrypted;
    this.sendControlMsg = p.sendControl;
    this.mtu = p.mtu;
    this.overheadDF = dfOverhead(p.sealerDF.packetOverhead);
    if (p.remoteIp !== undefined && p.remotePort !== undefined) {
      this.remoteIp = p.remoteIp;
      this.remotePort = p.remotePort;
    }
    this.log = p.logger.child({ component: 'sleeve', peer: p.remotePeer });
  }

  /** "ip:port" of the remote's UDP socket, once known. */
  get remoteAddress(): string | undefined {
    return this.remoteIp === 0 ? undefined : `${formatIpv4(this.remoteIp)}:${this.remotePort}`;
  }

  get established(): boolean {
    return this.isEstablished;
  }

  attrs(): OverlayForwarderAttrs {
    return { name: 'sleeve', mtu: this.mtu, encrypted: this.encrypted };
  }

  override on<E extends keyof OverlayForwarderEvents>(event: E, listener: OverlayForwarderEvents[E]): this {
    return super.on(event, listener);
  }

  override off<E extends keyof OverlayForwarderEvents>(event: E, listener: OverlayForwarderEvents[E]): this {
    return super.off(event, listener);
  }

  confirm(): void {
    if (this.stopped || this.confirmed) return;
    this.confirmed = true;
    // from now on, packets from this peer are ours to decode
    this.t.register(this);
    this.heartbeatInterval = Math.min(this.t.timing.firstHeartbeatMs, this.t.timing.fastHeartbeatMs);
    if (this.remoteIp !== 0) this.sendHeartbeat();
    this.heartbeatTimeout = this.timer(this.t.timing.heartbeatTimeoutMs, () => this.fail(new Error('timed out waiting for UDP heartbeat')));
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of [this.heartbeatTimer, this.heartbeatTimeout, this.fragTestTimer, this.mtuTestTimer]) {
      if (timer) clearTimeout(timer);
    }
    this.t.unregister(this);
    this.acc.len = this.acc.count = 0;
    this.accDF.len = this.accDF.count = 0;
  }

  // ---- sending frames --------------------------------------------------------------------

  forward(buf: Buffer, off: number, len: number, srcPeer: PeerName, dstPeer: PeerName, broadcast: boolean): void {
    if (this.stopped) return;
    if (this.remoteIp === 0) {
      this.log.debug('Cannot forward frame yet - awaiting contact');
      this.stats.dropped++;
      return;
    }
    const src = this.t.names.toNumber(srcPeer);
    const dst = this.t.names.toNumber(dstPeer);
    const ip = ipv4DfState(buf, off, len);
    const tooBig = len > this.mtu + ETHERNET_OVERHEAD;
    if (ip === 2) {
      if (!tooBig) return this.append(true, src, dst, buf, off, len);
      // A copy on the broadcast tree cannot be answered: the destination is not one host.
      if (broadcast) {
        this.stats.dropped++;
        return;
      }
      const icmp = icmpFragNeeded(buf, off, len, this.mtu);
      this.stats.dropped++;
      // Delivered as if it came back from the destination peer; it has no DF, so forwarding
      // it cannot recurse here again.
      if (icmp) this.t.consumer()?.handleForwarded(dstPeer, srcPeer, icmp, 0, icmp.length);
      return;
    }
    if (this.stackFrag || ip === 0) return this.append(false, src, dst, buf, off, len);
    // We cannot trust the path to fragment: send DF, splitting the IP packet ourselves.
    if (!tooBig) return this.append(true, src, dst, buf, off, len);
    const n = fragmentIpv4(buf, off, len, this.mtu, this.fragScratch, (f, o, l) => this.append(true, src, dst, f, o, l));
    if (n === 0) this.stats.dropped++;
  }

  private append(df: boolean, src: number, dst: number, buf: Buffer, off: number, len: number): void {
    const acc = df ? this.accDF : this.acc;
    const sealer = df ? this.sealerDF : this.sealer;
    const limit = df ? this.maxPayload : MAX_UDP_PAYLOAD;
    if (sealer.packetOverhead + FRAME_OVERHEAD + len > limit) {
      this.log.debug(`Dropping too big frame during forwarding: frame len ${len}, limit ${limit}`);
      this.stats.dropped++;
      return;
    }
    // Even on the non-DF stream, only batch up to the path's payload: a batch that needs
    // fragmenting risks every frame in it.
    if (acc.count > 0 && (acc.count >= MAX_FRAMES_PER_PACKET || sealer.packetOverhead + acc.len + FRAME_OVERHEAD + len > this.maxPayload)) {
      this.emitAcc(df);
    }
    acc.len = writeFrame(acc.buf, acc.len, src, dst, buf, off, len);
    acc.count++;
    this.stats.framesSent++;
    if (acc.count === 1) this.t.scheduleFlush();
  }

  private emitAcc(df: boolean): void {
    const acc = df ? this.accDF : this.acc;
    if (acc.count === 0) return;
    this.t.emit(df, df ? this.sealerDF : this.sealer, acc.buf, acc.len, this.remoteIp, this.remotePort, this);
    acc.len = 0;
    acc.count = 0;
  }

  /** Called by the transport's flush: turn pending frames into datagrams. */
  drain(): void {
    if (this.remoteIp === 0) return;
    this.emitAcc(false);
    this.emitAcc(true);
  }

  /** A special frame travels alone in its own packet. */
  private sendSpecial(df: boolean, frame: Buffer, len = frame.length): void {
    if (this.remoteIp === 0 || this.stopped) return;
    this.emitAcc(df);
    const acc = df ? this.accDF : this.acc;
    acc.len = writeFrame(acc.buf, 0, this.t.ourNumber, this.remoteNumber, frame, 0, len);
    acc.count = 1;
    this.emitAcc(df);
    this.t.scheduleFlush();
  }

  /** The transport could not send one of our datagrams. */
  sendFailed(err: SocketError, df: boolean): void {
    if (this.stopped) return;
    if (err.code === 'EMSGSIZE' && df) {
      this.onMsgTooBig();
      return;
    }
    if (err.code === 'EMSGSIZE') {
      this.log.warn(`Dropping packet: ${err.message}`);
      return;
    }
    this.fail(new Error(`sleeve send to ${this.remoteAddress ?? '?'} failed: ${err.message}`));
  }

  // ---- receiving -------------------------------------------------------------------------

  /** A datagram from this peer (the 6-byte hop name already matched): body is
   *  packet[start, end), sent from ip:port. */
  receive(packet: Buffer, start: number, end: number, ip: number, port: number): void {
    if (this.stopped) return;
    const r = this.opener.open(packet, start, end);
    if (r !== 'ok') {
      // Stray packets from an old connection are normal after churn; a dead data path shows
      // up as missed heartbeats instead.
      this.stats.badPackets++;
      if (r !== 'replay') this.log.debug(`Dropping UDP packet from ${formatIpv4(ip)}:${port}: ${r}`);
      return;
    }
    this.rxIp = ip;
    this.rxPort = port;
    const err = forEachFrame(this.opener.bodyBuf, this.opener.bodyStart, this.opener.bodyEnd, this.onFrame);
    if (err !== undefined) {
      this.stats.badPackets++;
      this.log.debug(`Failed to decode packet from ${formatIpv4(ip)}:${port}: ${err}`);
    }
  }

  private readonly onFrame = (buf: Buffer, src: number, dst: number, off: number, len: number): void => {
    if (isSpecialFrame(buf, off, len)) {
      if (src === this.remoteNumber && dst === this.t.ourNumber) this.handleSpecial(buf, off, len);
      return;
    }
    const srcPeer = this.t.names.fromNumber(src);
    const dstPeer = this.t.names.fromNumber(dst);
    if (!this.t.knownPeer(srcPeer) || !this.t.knownPeer(dstPeer)) return;
    this.stats.framesReceived++;
    this.t.consumer()?.handleForwarded(srcPeer, dstPeer, buf, off, len);
  };

  private handleSpecial(buf: Buffer, off: number, len: number): void {
    switch (specialKind(len)) {
      case 'heartbeat':
        return this.handleHeartbeat(heartbeatUid(buf, off));
      case 'frag-test':
        if (allZero(buf, off, len)) this.sendControl(SleeveControlTag.FragmentationReceived, Buffer.alloc(0));
        return;
      case 'pmtu-test':
        return this.sendControl(SleeveControlTag.PMTUVerified, pmtuVerifiedBody(len));
    }
  }

  private handleHeartbeat(uid: bigint): void {
    if (uid !== BigInt.asUintN(64, this.connUid)) return;
    if (this.remoteIp === 0) {
      this.setRemote(this.rxIp, this.rxPort);
      if (this.heartbeatInterval !== 0) this.sendHeartbeat();
    } else if (this.remoteIp !== this.rxIp || this.remotePort !== this.rxPort) {
      this.log.info(`Peer UDP address changed to ${formatIpv4(this.rxIp)}:${this.rxPort}`);
      this.setRemote(this.rxIp, this.rxPort);
    }
    if (!this.ackedHeartbeat) {
      this.ackedHeartbeat = true;
      this.sendControl(SleeveControlTag.ConnectionEstablished, Buffer.alloc(0));
    }
    // a heartbeat may arrive before confirm() armed the timeout
    this.heartbeatTimeout?.refresh();
  }

  private setRemote(ip: number, port: number): void {
    this.remoteIp = ip;
    this.remotePort = port;
  }

  // ---- control messages (TCP) -------------------------------------------------------------

  controlMessage(tag: number, body: Buffer): void {
    if (this.stopped) return;
    switch (tag) {
      case SleeveControlTag.ConnectionEstablished:
        return this.handleHeartbeatAck();
      case SleeveControlTag.FragmentationReceived:
        this.stackFrag = true;
        return;
      case SleeveControlTag.PMTUVerified:
        return this.handleMtuTestAck(body);
      default:
        this.log.info(`Ignoring unknown control message tag: ${tag}`);
    }
  }

  private sendControl(tag: number, body: Buffer): void {
    try {
      this.sendControlMsg(tag, body);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private handleHeartbeatAck(): void {
    if (this.heartbeatInterval !== this.t.timing.slowHeartbeatMs) {
      this.heartbeatInterval = this.t.timing.slowHeartbeatMs;
      if (this.heartbeatTimer) {
        clearTimeout(this.heartbeatTimer);
        this.heartbeatTimer = this.timer(this.heartbeatInterval, () => this.sendHeartbeat());
      }
      this.isEstablished = true;
      this.log.info(`Connection established over sleeve${this.encrypted ? ' (encrypted)' : ''} to ${this.remoteAddress ?? '?'}`);
      this.emit('established');
    }
    if (this.fragTestTimer) clearInterval(this.fragTestTimer);
    this.fragTestTimer = setInterval(() => this.sendFragTest(), this.t.timing.fragTestIntervalMs);
    this.fragTestTimer.unref();
    this.sendFragTest();
    // Far above any link MTU: the kernel refuses it with EMSGSIZE, which starts PMTU discovery.
    this.sendSpecial(true, this.t.zeros, PMTU_DISCOVERY_SIZE);
  }

  private sendHeartbeat(): void {
    if (this.stopped) return;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = this.timer(this.heartbeatInterval, () => this.sendHeartbeat());
    // ramp up to the fast interval while unacknowledged (after the ack it is the slow one)
    if (this.heartbeatInterval < this.t.timing.fastHeartbeatMs) this.heartbeatInterval = Math.min(this.heartbeatInterval * 2, this.t.timing.fastHeartbeatMs);
    this.sendSpecial(true, heartbeatFrame(this.connUid));
  }

  private sendFragTest(): void {
    this.stackFrag = false;
    this.sendSpecial(false, this.t.zeros, FRAG_TEST_SIZE);
  }

  // ---- PMTU discovery ---------------------------------------------------------------------

  private onMsgTooBig(): void {
    let pmtu: number;
    try {
      pmtu = this.t.pathMtu(this.remoteIp, this.remotePort);
    } catch (err) {
      this.log.warn(`EMSGSIZE, but the path MTU is unknown: ${(err as Error).message}`);
      return;
    }
    const mtu = pmtu - this.overheadDF;
    this.log.debug(`EMSGSIZE on send, path MTU ${pmtu}, overlay MTU candidate ${mtu}`);
    if (this.mtuCandidate !== 0 && mtu >= this.mtuCandidate) return;
    this.mtuHighestGood = Math.min(MTU_SEARCH_FLOOR, mtu);
    this.mtuLowestBad = mtu + 1;
    this.mtuCandidate = mtu;
    this.mtuTestsSent = 0;
    this.maxPayload = pmtu - UDP_OVERHEAD;
    this.mtu = mtu;
    this.sendMtuTest();
  }

  private sendMtuTest(): void {
    this.sendSpecial(true, this.t.zeros, this.mtuCandidate + ETHERNET_OVERHEAD);
    if (this.mtuTestTimer) clearTimeout(this.mtuTestTimer);
    this.mtuTestTimer = this.timer(this.t.timing.mtuVerifyTimeoutMs * 2 ** this.mtuTestsSent, () => this.onMtuTestTimeout());
    this.mtuTestsSent++;
  }

  private handleMtuTestAck(body: Buffer): void {
    if (body.length < 2) {
      this.log.info('Received truncated MTUTestAck');
      return;
    }
    const mtu = body.readUInt16BE(0);
    if (mtu !== this.mtuCandidate) return;
    this.mtuHighestGood = mtu;
    this.searchMtu();
  }

  private onMtuTestTimeout(): void {
    this.mtuTestTimer = undefined;
    if (this.mtuTestsSent < this.t.timing.mtuVerifyAttempts) return this.sendMtuTest();
    this.mtuLowestBad = this.mtuCandidate;
    this.searchMtu();
  }

  private searchMtu(): void {
    if (this.mtuHighestGood + 1 >= this.mtuLowestBad) {
      const mtu = this.mtuHighestGood;
      this.log.info(`Effective MTU verified at ${mtu}`);
      if (this.mtuTestTimer) clearTimeout(this.mtuTestTimer);
      this.mtuTestTimer = undefined;
      this.mtuCandidate = 0;
      this.maxPayload = mtu + this.overheadDF - UDP_OVERHEAD;
      this.mtu = mtu;
      return;
    }
    this.mtuCandidate = Math.floor((this.mtuHighestGood + this.mtuLowestBad) / 2);
    this.mtuTestsSent = 0;
    this.sendMtuTest();
  }

  // ---- lifecycle helpers -------------------------------------------------------------------

  private fail(err: Error): void {
    if (this.stopped) return;
    this.log.warn(`sleeve forwarder failed: ${err.message}`);
    this.stop();
    // an 'error' event without listeners would throw: the owner may not have subscribed
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** Timers never keep the process alive: the connection's TCP socket decides that. */
  private timer(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  }
}
