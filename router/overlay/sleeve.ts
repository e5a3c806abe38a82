// The sleeve overlay (Weave's SleeveOverlay): owns the UDP port (6783) and the per-connection
// forwarders. Two sockets share the port through SO_REUSEPORT: one never sets DF (non-DF
// stream, fragmentation test), the other always does (DF stream, heartbeats, PMTU tests), so
// that EMSGSIZE tells us about the path MTU. Weave used a raw socket per connection for the DF
// side; a second UDP socket gives the same packets with the kernel building the UDP header.
// Both sockets receive (the kernel spreads incoming datagrams between them), and every datagram
// is matched to a forwarder by the sending hop's name in its first 6 bytes.
//
// Output is batched per event-loop turn: forwarders accumulate frames, and a microtask queued
// by the first frame turns all accumulators into datagrams and hands them to the kernel with
// one sendmmsg per socket.
import type { Logger } from 'winston';
import type { MeshConnection, PeerName } from '../mesh/contract.ts';
import { ProtocolTag } from '../mesh/contract.ts';
import { parseIpv4 } from '../../common/ipv4.ts';
import { DatagramBatch } from '../../datapath/datagram/contract.ts';
import type { DatagramSocket, DatagramSockets, PathMtuProbe, ReceivedBatch, SocketError } from '../../datapath/datagram/contract.ts';
import type { FrameConsumer, NetworkOverlay, OverlayForwarder, PrepareOptions } from './contract.ts';
import { PlainOpener, PlainSealer, SecretboxOpener, SecretboxSealer } from './frame-crypto.ts';
import type { PacketSealer } from './frame-crypto.ts';
import { PeerNameCache } from './peer-name-cache.ts';
import { SleeveForwarder, DEFAULT_SLEEVE_TIMING } from './sleeve-forwarder.ts';
import type { SleeveTiming, SleeveTransport } from './sleeve-forwarder.ts';
import { FRAG_TEST_SIZE, MAX_UDP_PAYLOAD, NAME_SIZE } from './sleeve-packet.ts';

export const SLEEVE_PORT = 6783;
/** Weave's bridge-mode default MTU. */
export const DEFAULT_BRIDGE_MTU = 65535;

export interface SleeveOverlayOptions {
  ourName: PeerName;
  logger: Logger;
  /** Local UDP port (default 6783). */
  port?: number;
  bindAddress?: string;
  /** UDP port of peers we dial (default 6783, the same number as the TCP port). */
  peerPort?: number;
  /** Where the UDP sockets come from (the daemon picks; tests pass one bound to a namespace). */
  sockets: DatagramSockets;
  /** The weave bridge's MTU: the overlay MTU until PMTU discovery finds the real one. */
  bridgeMtu?: number;
  /** Frames naming peers this returns false for are dropped (Weave: unknown peers). */
  knownPeer?: (name: PeerName) => boolean;
  timing?: Partial<SleeveTiming>;
}

export interface SleeveOverlayStats {
  packetsIn: number;
  packetsOut: number;
  /** Datagrams from names we have no confirmed forwarder for. */
  unknownSender: number;
  /** Datagrams not sent because the socket buffer was full. */
  sendDropped: number;
}

/** Outgoing datagrams of one socket with the forwarder each belongs to. */
class Outbox {
  readonly batch = new DatagramBatch(4 << 20, 256);
  readonly owners: (SleeveForwarder | undefined)[] = new Array<SleeveForwarder | undefined>(256).fill(undefined);
}

export class SleeveOverlay implements NetworkOverlay, SleeveTransport {
  readonly ourName: PeerName;
  readonly ourNumber: number;
  readonly names = new PeerNameCache();
  readonly zeros = Buffer.alloc(FRAG_TEST_SIZE + 16);
  readonly timing: SleeveTiming;
  readonly stats: SleeveOverlayStats = { packetsIn: 0, packetsOut: 0, unknownSender: 0, sendDropped: 0 };
  private readonly opts: SleeveOverlayOptions;
  private readonly sockets: DatagramSockets;
  private readonly log: Logger;
  private readonly bridgeMtu: number;
  private readonly forwarders = new Map<number, SleeveForwarder>();
  private readonly byPeer = new Map<PeerName, SleeveForwarder>();
  private readonly plainOut = new Outbox();
  private readonly dfOut = new Outbox();
  private readonly probes = new Map<string, PathMtuProbe>();
  private main: DatagramSocket | undefined;
  private dfSocket: DatagramSocket | undefined;
  private frameConsumer: FrameConsumer | undefined;
  private flushQueued = false;
  private readonly flushNow = () => this.flush();
  private readonly onBatch = (b: ReceivedBatch) => this.receiveBatch(b);

  constructor(opts: SleeveOverlayOptions) {
    this.opts = opts;
    this.ourName = opts.ourName;
    this.ourNumber = this.names.toNumber(opts.ourName);
    this.sockets = opts.sockets;
    this.log = opts.logger.child({ component: 'sleeve' });
    this.bridgeMtu = opts.bridgeMtu ?? DEFAULT_BRIDGE_MTU;
    this.timing = { ...DEFAULT_SLEEVE_TIMING, ...opts.timing };
  }

  /** Local UDP port actually bound (useful with port 0). */
  get port(): number {
    if (!this.main) throw new Error('sleeve overlay not started');
    return this.main.port;
  }

  features(): Record<string, string> {
    return { Overlays: 'sleeve' };
  }

  start(consumer: FrameConsumer): void {
    if (this.main) throw new Error('sleeve overlay already started');
    this.frameConsumer = consumer;
    const common = {
      address: this.opts.bindAddress ?? '0.0.0.0',
      port: this.opts.port ?? SLEEVE_PORT,
      reusePort: true,
      rcvbuf: 8 << 20,
      sndbuf: 8 << 20,
      onBatch: this.onBatch,
      onError: (err: SocketError) => this.log.debug(`UDP receive error: ${err.message}`),
    };
    this.main = this.sockets.open({ ...common, pmtuDiscover: 'dont' });
    try {
      // same port as the main socket, so peers see one address for both streams
      this.dfSocket = this.sockets.open({ ...common, port: this.main.port, pmtuDiscover: 'do' });
    } catch (err) {
      this.main.close();
      this.main = undefined;
      throw err;
    }
    this.log.info(`Sleeve listening on UDP ${this.main.address}:${this.main.port}`);
  }

  stop(): void {
    for (const fwd of [...this.byPeer.values()]) fwd.stop();
    this.main?.close();
    this.dfSocket?.close();
    this.main = undefined;
    this.dfSocket = undefined;
    for (const probe of this.probes.values()) probe.close();
    this.probes.clear();
  }

  prepareConnection(conn: MeshConnection, remotePeer: PeerName, isOutbound: boolean, opts: PrepareOptions = {}): OverlayForwarder {
    const key = conn.sessionKey;
    const sealers: [PacketSealer, PacketSealer] = key
      ? [new SecretboxSealer(key, isOutbound, false), new SecretboxSealer(key, isOutbound, true)]
      : [new PlainSealer(), new PlainSealer()];
    let remoteIp: number | undefined;
    if (isOutbound) {
      const host = conn.remoteAddr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
      try {
        remoteIp = parseIpv4(host);
      } catch {
        this.log.warn(`Cannot use ${conn.remoteAddr} as a sleeve address (IPv4 only); waiting for heartbeats`);
      }
    }
    const sendControl = opts.sendControl ?? defaultControlSender(conn);
    return new SleeveForwarder({
      transport: this,
      remotePeer,
      outbound: isOutbound,
      connUid: conn.connUid,
      ...(remoteIp !== undefined ? { remoteIp, remotePort: this.opts.peerPort ?? SLEEVE_PORT } : {}),
      sealer: sealers[0],
      sealerDF: sealers[1],
      opener: key ? new SecretboxOpener(key, isOutbound) : new PlainOpener(),
      encrypted: key !== undefined,
      mtu: this.bridgeMtu,
      sendControl,
      logger: this.log,
    });
  }

  /** The confirmed forwarder to a neighbour (ForwarderLookup for the network router). */
  forwarderTo(peer: PeerName): SleeveForwarder | undefined {
    return this.byPeer.get(peer);
  }

  // ---- SleeveTransport ---------------------------------------------------------------------

  consumer(): FrameConsumer | undefined {
    return this.frameConsumer;
  }

  knownPeer(name: PeerName): boolean {
    return this.opts.knownPeer ? this.opts.knownPeer(name) : true;
  }

  register(fwd: SleeveForwarder): void {
    // the newest confirmed connection to a peer wins, as in Weave
    const old = this.byPeer.get(fwd.remotePeer);
    if (old && old !== fwd) this.log.debug(`Replacing sleeve forwarder to ${fwd.remotePeer}`);
    this.byPeer.set(fwd.remotePeer, fwd);
    this.forwarders.set(fwd.remoteNumber, fwd);
  }

  unregister(fwd: SleeveForwarder): void {
    if (this.byPeer.get(fwd.remotePeer) === fwd) {
      this.byPeer.delete(fwd.remotePeer);
      this.forwarders.delete(fwd.remoteNumber);
    }
    for (const box of [this.plainOut, this.dfOut]) {
      for (let i = 0; i < box.batch.count; i++) if (box.owners[i] === fwd) box.owners[i] = undefined;
    }
  }

  scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(this.flushNow);
  }

  emit(df: boolean, sealer: PacketSealer, frames: Buffer, len: number, ip: number, port: number, owner: SleeveForwarder): void {
    const box = df ? this.dfOut : this.plainOut;
    const need = sealer.packetOverhead + len;
    if (need > MAX_UDP_PAYLOAD) return;
    if (box.batch.free < need) this.sendBox(df);
    const n = sealer.seal(this.ourNumber, frames, len, box.batch.data, box.batch.used);
    box.owners[box.batch.count] = owner;
    box.batch.push(n, ip, port);
    this.scheduleFlush();
  }

  pathMtu(ip: number, port: number): number {
    const key = `${ip}:${port}`;
    let probe = this.probes.get(key);
    if (probe === undefined) {
      probe = this.sockets.pathMtuProbe(ip, port);
      this.probes.set(key, probe);
    }
    return probe.mtu();
  }

  // ---- batching ----------------------------------------------------------------------------

  /** Turns every forwarder's pending frames into datagrams and sends them. Runs once per
   *  turn from a microtask; public so that callers outside a batch can force it. */
  flush(): void {
    this.flushQueued = false;
    for (const fwd of this.byPeer.values()) fwd.drain();
    this.sendBox(false);
    this.sendBox(true);
  }

  private sendBox(df: boolean): void {
    const box = df ? this.dfOut : this.plainOut;
    const sock = df ? this.dfSocket : this.main;
    if (box.batch.count === 0) return;
    if (!sock || sock.closed) {
      box.batch.clear();
      return;
    }
    const failures: { err: SocketError; owner: SleeveForwarder | undefined }[] = [];
    const r = sock.send(box.batch, (err, index) => failures.push({ err, owner: box.owners[index] }));
    this.stats.packetsOut += r.sent;
    this.stats.sendDropped += r.dropped;
    box.batch.clear();
    box.owners.fill(undefined);
    // after clearing: a forwarder reacting to EMSGSIZE sends a test frame through this box
    for (const f of failures) f.owner?.sendFailed(f.err, df);
  }

  private receiveBatch(b: ReceivedBatch): void {
    const pool = b.pool;
    for (let i = 0; i < b.count; i++) {
      const len = b.length(i);
      if (len < NAME_SIZE) continue;
      this.stats.packetsIn++;
      const off = b.offset(i);
      const fwd = this.forwarders.get(pool.readUIntBE(off, NAME_SIZE));
      if (fwd === undefined) {
        this.stats.unknownSender++;
        continue;
      }
      fwd.receive(pool, off + NAME_SIZE, off + len, b.ip(i), b.port(i));
    }
  }
}

/** Tag 7 with sub-forwarder index 0 for peers that negotiate overlays (sleeve is the only
 *  overlay we offer, so it is the only common one), legacy tags 1-3 otherwise. */
export function defaultControlSender(conn: MeshConnection): (tag: number, body: Buffer) => void {
  if (conn.remote.features.Overlays === undefined) return (tag, body) => conn.send(tag, body);
  return (tag, body) => {
    const msg = Buffer.allocUnsafe(2 + body.length);
    msg[0] = 0;
    msg[1] = tag;
    body.copy(msg, 2);
    conn.send(ProtocolTag.OverlayControlMsg, msg);
  };
}
