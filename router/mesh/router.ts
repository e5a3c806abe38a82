// MeshRouter: the control plane of one peer. It listens and dials, registers handshaken
// connections in the peer table, runs gossip (topology built in), keeps routes, and tells the
// data plane (through RouteTable / ConnectionEvents / OverlayHook) what it needs.

import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { join } from 'node:path';
import { readJson, writeJsonAtomic } from '../../common/atomic-file.ts';
import type { Logger } from '../../common/logger.ts';
import { componentLogger } from '../../common/logger.ts';
import type { Clock } from './clock.ts';
import { systemClock } from './clock.ts';
import type { MeshCodecs } from './codecs.ts';
import { ConnectionMaker } from './connection-maker.ts';
import type { DialOptions } from './connection-maker.ts';
import type { GossipChannelSender, Gossiper, HandshakeOptions, LocalIdentity, MeshConnection, PeerName } from './contract.ts';
import { ProtocolTag } from './contract.ts';
import { acceptMesh, dialMesh } from './connect.ts';
import { ConnectToSelfError, DuplicateConnectionError, PeerNameCollisionError } from './errors.ts';
import { gossipEnvelopeCodec } from './gossip-codec.ts';
import { PROTOCOL_MAX_VERSION, PROTOCOL_MIN_VERSION } from './handshake.ts';
import { topologyCodec } from './topology-codec.ts';
import { Gossip } from './gossip.ts';
import type { GossipTransport } from './gossip-channel.ts';
import { LocalPeer } from './local-peer.ts';
import { Peer } from './peer.ts';
import { Peers } from './peers.ts';
import type { ConnectionEvent, ConnectionEvents, OverlayConnection, OverlayHook, PeerInfo, RouteTable } from './route-table.ts';
import { Routes } from './routes.ts';
import type { LocalConnectionStatus, RouterStatus } from './status.ts';
import { TokenBucket } from './token-bucket.ts';
import { TOPOLOGY_CHANNEL, TopologyGossiper } from './topology-gossip.ts';

export const DEFAULT_PORT = 6783;
export const DEFAULT_CONN_LIMIT = 200;
const TARGETS_FILE = 'targets.json';
const STOP_GRACE_MS = 2000;

export type DialMesh = (address: string, opts: HandshakeOptions) => Promise<MeshConnection>;
export type AcceptMesh = (socket: Socket, opts: HandshakeOptions) => Promise<MeshConnection>;

export interface MeshTimings {
  gossipIntervalMs?: number;
  /** Coalescing of neighbour-subset gossip (topology changes): 1 s. */
  gossipCoalesceMs?: number;
  gcDelayMs?: number;
  recalcDelayMs?: number;
  /** How long we leave a discovered lower-named peer to dial us first. */
  discoveryDeferMs?: number;
}

export interface MeshRouterOptions {
  identity: LocalIdentity;
  /** Holds targets.json (direct targets, for `resume`). */
  dataDir: string;
  port?: number;
  /** Address to listen on (default all); `listen: false` for routers fed by acceptConnection. */
  host?: string;
  listen?: boolean;
  password?: Uint8Array;
  /** Initial direct targets (command line). */
  peers?: string[];
  /** Use the persisted direct targets instead of `peers` when there are any (Weave's --resume). */
  resume?: boolean;
  /** 0 = unlimited. */
  connLimit?: number;
  discovery?: boolean;
  logger: Logger;
  /** The wire layer: handshake over a new outbound / accepted TCP connection. Default: the
   *  gob/TCP implementation (connect.ts). */
  dial?: DialMesh;
  accept?: AcceptMesh;
  /** Default: gob (gossip-codec.ts, topology-codec.ts). */
  codecs?: MeshCodecs;
  overlay?: OverlayHook;
  /** Extra handshake features (the overlay hook's are added). */
  features?: Record<string, string>;
  minVersion?: number;
  maxVersion?: number;
  clock?: Clock;
  random?: () => number;
  timings?: MeshTimings;
}

interface Registered {
  peer: Peer;
  overlay?: OverlayConnection;
}

export class MeshRouter implements RouteTable, ConnectionEvents {
  readonly ourName: PeerName;
  readonly port: number;
  readonly peers: Peers;
  readonly routes: Routes;
  readonly connectionMaker: ConnectionMaker;
  private readonly ourself: LocalPeer;
  private readonly gossip: Gossip;
  private readonly topology: TopologyGossiper;
  private readonly topologyChannel: GossipChannelSender;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly registered = new Map<MeshConnection, Registered>();
  private readonly connListeners = new Set<(event: ConnectionEvent, conn: MeshConnection) => void>();
  private readonly acceptBucket: TokenBucket;
  private readonly dialFn: DialMesh;
  private readonly acceptFn: AcceptMesh;
  private server?: Server;
  private boundPort?: number;
  private running = false;

  constructor(private readonly opts: MeshRouterOptions) {
    this.log = componentLogger(opts.logger, 'mesh');
    this.clock = opts.clock ?? systemClock;
    const random = opts.random ?? Math.random;
    const t = opts.timings ?? {};
    this.ourName = opts.identity.name;
    const codecs: MeshCodecs = opts.codecs ?? { envelope: gossipEnvelopeCodec, topology: topologyCodec };
    this.dialFn = opts.dial ?? ((address, hs) => dialMesh(address, { ...hs, logger: this.log }));
    this.acceptFn = opts.accept ?? ((socket, hs) => acceptMesh(socket, { ...hs, logger: this.log }));
    this.port = opts.port ?? DEFAULT_PORT;
    this.ourself = new LocalPeer(opts.identity);
    this.peers = new Peers({ ourself: this.ourself, clock: this.clock, random, logger: this.log, gcDelayMs: t.gcDelayMs });
    this.routes = new Routes({ ourself: this.ourself, lookup: (n) => this.peers.get(n), clock: this.clock, random, recalcDelayMs: t.recalcDelayMs });
    const transport: GossipTransport = {
      ourName: this.ourName,
      codec: codecs.envelope,
      clock: this.clock,
      logger: this.log,
      connectionTo: (n) => this.ourself.connectionTo(n),
      // Gossip must see a connection added a moment ago, so it forces pending recalculation.
      unicastAll: (n) => {
        this.routes.ensureRecalculated();
        return this.routes.unicastAll(n);
      },
      broadcastAll: (n) => {
        this.routes.ensureRecalculated();
        return this.routes.broadcastAll(n);
      },
      randomNeighbours: (except) => {
        this.routes.ensureRecalculated();
        return this.routes.randomNeighbours(except);
      },
    };
    this.gossip = new Gossip(transport, { intervalMs: t.gossipIntervalMs, coalesceMs: t.gossipCoalesceMs });
    this.topology = new TopologyGossiper(this.peers, codecs.topology, () => this.topologyChanged());
    this.topologyChannel = this.gossip.addChannel(TOPOLOGY_CHANNEL, this.topology);
    this.peers.onLocalPeerModified(() => this.localChanged());
    this.peers.onPeerRemoved(() => this.routes.recalculate());
    this.connectionMaker = new ConnectionMaker({
      ourself: this.ourself,
      peers: this.peers,
      port: this.port,
      discovery: opts.discovery ?? true,
      clock: this.clock,
      random,
      logger: this.log,
      discoveryDeferMs: t.discoveryDeferMs,
      dial: (address, o) => this.dialAndRegister(address, o),
      persist: (targets) => writeJsonAtomic(join(opts.dataDir, TARGETS_FILE), { targets }),
    });
    this.acceptBucket = new TokenBucket(this.clock);
  }

  /** Listen (unless disabled), start gossip and dial the initial targets. */
  async start(): Promise<void> {
    if (this.running) return;
    let targets = this.opts.peers ?? [];
    if (this.opts.resume) {
      const saved = (await readJson(join(this.opts.dataDir, TARGETS_FILE))) as { targets?: unknown } | undefined;
      if (saved && Array.isArray(saved.targets)) targets = saved.targets.filter((x): x is string => typeof x === 'string');
    }
    if (this.opts.listen !== false) await this.listen();
    this.running = true;
    this.gossip.start();
    for (const err of this.connectionMaker.start(targets)) this.log.warn('ignoring target', { error: err.message });
    this.log.info('mesh router started', { name: this.ourName, nickname: this.opts.identity.nickname, port: this.boundPort ?? this.port });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.connectionMaker.stop();
    const server = this.server;
    this.server = undefined;
    // Let the connections' close handlers run (they touch gossip, routes and GC) before the
    // timers those handlers arm are cancelled for good.
    const closed = this.ourself.liveConnections().map(
      (conn) =>
        new Promise<void>((resolve) => {
          conn.on('close', () => resolve());
          conn.close(new Error('router stopping'));
        }),
    );
    await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, STOP_GRACE_MS).unref())]);
    this.gossip.stop();
    this.routes.stop();
    this.peers.stop();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.connectionMaker.flushed();
    this.log.info('mesh router stopped');
  }

  /** The port actually listened on (useful with port 0). */
  get listenPort(): number | undefined {
    return this.boundPort;
  }

  // ---- control API (weave connect / forget) ----

  connect(peers: string[], replace = false): Error[] {
    return this.connectionMaker.initiateConnections(peers, replace);
  }

  forget(peers: string[]): void {
    this.connectionMaker.forgetConnections(peers);
  }

  /** Register the owner of a gossip channel (IPAM "IPallocation", DNS "nameserver", ...). */
  newGossip(channel: string, gossiper: Gossiper): GossipChannelSender {
    return this.gossip.addChannel(channel, gossiper);
  }

  /** Register an inbound connection whose handshake happened elsewhere (alternative
   *  transports, tests). Accepted connections from the listener come through here too. */
  acceptConnection(conn: MeshConnection): void {
    try {
      this.register(conn, true);
    } catch (err) {
      this.logRefusal(conn, err);
    }
  }

  /** The overlay reports the data path works: equivalent to OverlayConnectionControl. */
  markEstablished(connUid: bigint): boolean {
    for (const conn of this.registered.keys()) if (conn.connUid === connUid) return this.established(conn);
    return false;
  }

  // ---- RouteTable ----

  unicastNextHop(dst: PeerName): PeerName | undefined {
    return this.routes.unicastNextHop(dst);
  }

  broadcastNextHops(src: PeerName): PeerName[] {
    return this.routes.broadcastNextHops(src);
  }

  peer(name: PeerName): PeerInfo | undefined {
    return this.peers.get(name)?.info();
  }

  peerByShortId(shortId: number): PeerInfo | undefined {
    return this.peers.getByShortId(shortId)?.info();
  }

  onRoutesChanged(cb: () => void): () => void {
    return this.routes.onChange(cb);
  }

  onPeerRemoved(cb: (peer: PeerInfo) => void): () => void {
    return this.peers.onPeerRemoved((p) => cb(p.info()));
  }

  onShortIdsInvalidated(cb: () => void): () => void {
    return this.peers.onShortIdsInvalidated(cb);
  }

  onConnectionEvent(cb: (event: ConnectionEvent, conn: MeshConnection) => void): () => void {
    this.connListeners.add(cb);
    return () => this.connListeners.delete(cb);
  }

  /** Our live connections (registered ones only). */
  connections(): MeshConnection[] {
    return this.ourself.liveConnections();
  }

  // ---- status ----

  status(): RouterStatus {
    this.routes.ensureRecalculated();
    const encrypted = this.opts.password !== undefined;
    const connections: LocalConnectionStatus[] = [];
    for (const conn of this.ourself.liveConnections()) {
      const attrs = this.registered.get(conn)?.overlay?.attrs?.() ?? undefined;
      const overlayName = typeof attrs?.['name'] === 'string' ? (attrs['name'] as string) : 'none';
      let info = `${overlayName.padEnd(6)} ${conn.remote.name}(${conn.remote.nickname})`;
      const row: LocalConnectionStatus = {
        Address: conn.remoteAddr,
        Outbound: conn.outbound,
        State: this.ourself.isEstablished(conn) ? 'established' : 'pending',
        Info: info,
      };
      if (encrypted) {
        const enc = conn.sessionKey !== undefined;
        info = `${(enc ? 'encrypted' : 'unencrypted').padEnd(11)} ${info}`;
        row.Info = info;
        if (attrs && enc) attrs['encrypted'] = true;
      }
      if (attrs) row.Attrs = attrs;
      connections.push(row);
    }
    for (const t of this.connectionMaker.connectionStatuses()) connections.push({ Address: t.address, Outbound: true, State: t.state, Info: t.info });
    const nick = (n: PeerName): string => this.peers.get(n)?.nickname ?? '';
    return {
      Protocol: 'weave',
      ProtocolMinVersion: this.opts.minVersion ?? PROTOCOL_MIN_VERSION,
      ProtocolMaxVersion: this.opts.maxVersion ?? PROTOCOL_MAX_VERSION,
      Encryption: encrypted,
      PeerDiscovery: this.opts.discovery ?? true,
      Name: this.ourName,
      NickName: this.opts.identity.nickname,
      Port: this.boundPort ?? this.port,
      Peers: this.peers.all().map((p) => ({
        Name: p.name,
        NickName: p.nickname,
        UID: p.uid.toString(),
        ShortID: p.shortId,
        Version: p.version,
        Connections: p.summary().connections.map((c) => ({
          Name: c.name,
          NickName: nick(c.name),
          Address: c.remoteTcpAddr,
          Outbound: c.outbound,
          Established: c.established,
        })),
      })),
      UnicastRoutes: this.routes.unicastEntries().map(([Dest, Via]) => ({ Dest, Via })),
      BroadcastRoutes: this.routes.broadcastEntries(this.peers.names()).map(([Source, Via]) => ({ Source, Via })),
      Connections: connections,
      TerminationCount: this.connectionMaker.terminationCount,
      Targets: this.connectionMaker.directTargets(),
      TrustedSubnets: [],
      Gossip: { ...this.gossip.stats },
    };
  }

  // ---- internals ----

  private handshakeOptions(): HandshakeOptions {
    const o: HandshakeOptions = {
      local: this.opts.identity,
      features: { ...(this.opts.features ?? {}), ...(this.opts.overlay?.features?.() ?? {}) },
    };
    if (this.opts.password) o.password = this.opts.password;
    if (this.opts.minVersion !== undefined) o.minVersion = this.opts.minVersion;
    if (this.opts.maxVersion !== undefined) o.maxVersion = this.opts.maxVersion;
    return o;
  }

  private async listen(): Promise<void> {
    const server = createServer((socket) => this.onSocket(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.port, host: this.opts.host }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error('listener error', { error: err.message }));
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
    // With port 0 (tests) the mesh port is only known now; discovery needs it.
    this.connectionMaker.port = this.boundPort;
  }

  private onSocket(socket: Socket): void {
    if (!this.running || !this.acceptBucket.tryTake()) {
      this.log.debug('refusing inbound connection (rate limit or stopping)', { from: socket.remoteAddress });
      socket.destroy();
      return;
    }
    socket.on('error', () => undefined);
    // read now: once the handshake has failed the socket is closed and its address gone
    const from = `${(socket.remoteAddress ?? '?').replace(/^::ffff:/, '')}:${socket.remotePort ?? '?'}`;
    this.acceptFn(socket, this.handshakeOptions()).then(
      (conn) => {
        if (!this.running) {
          conn.close(new Error('router stopping'));
          return;
        }
        this.acceptConnection(conn);
      },
      (err: unknown) => {
        socket.destroy();
        this.log.info('inbound handshake failed', { from, error: String(err instanceof Error ? err.message : err) });
      },
    );
  }

  private async dialAndRegister(address: string, o: DialOptions): Promise<MeshConnection> {
    const conn = await this.dialFn(address, this.handshakeOptions());
    if (!this.running) {
      conn.close(new Error('router stopping'));
      throw new Error('router stopping');
    }
    this.register(conn, o.acceptNewPeer);
    return conn;
  }

  /** Weave's registerRemote + AddConnection. Throws (after closing `conn`) when refused. */
  private register(conn: MeshConnection, acceptNewPeer: boolean): void {
    const remote = conn.remote;
    const refuse = (err: Error): never => {
      conn.close(err);
      throw err;
    };
    if (remote.name === this.ourName) {
      refuse(remote.uid === this.opts.identity.uid ? new ConnectToSelfError() : new PeerNameCollisionError(this.ourName, this.opts.identity.uid, remote.uid));
    }
    const candidate = new Peer(remote.name, remote.nickname, remote.uid, 0, remote.shortId ?? 0, remote.shortId !== undefined);
    const peer = acceptNewPeer ? this.peers.fetchWithDefault(candidate) : this.peers.fetchAndAddRef(remote.name);
    if (!peer) return refuse(new Error(`Found unknown remote name: ${remote.name} at ${conn.remoteAddr}`));
    const restarted = peer.uid !== 0n && peer.uid !== remote.uid;
    const knewRoute = this.routes.unicastAll(remote.name) !== undefined;

    const result = this.ourself.addConnection(conn, this.opts.connLimit ?? DEFAULT_CONN_LIMIT);
    if (result.displaced) {
      this.log.debug('duplicate connection: keeping the one with the lower connection UID', {
        peer: remote.name,
        kept: result.refused ? 'neither' : conn.connUid.toString(),
        dropped: result.displaced.connUid.toString(),
      });
      result.displaced.close(new DuplicateConnectionError(`Multiple connections to ${remote.name} added to ${this.ourName}`, remote.name));
    }
    if (result.refused) {
      this.peers.dereference(peer);
      // Both duplicates went: our entry lost a connection all the same.
      if (result.displaced) this.localChanged();
      const err = result.refused.kind === 'duplicate' ? new DuplicateConnectionError(result.refused.message, remote.name) : result.refused;
      return refuse(err);
    }

    const reg: Registered = { peer };
    this.registered.set(conn, reg);
    conn.on('message', (tag, payload) => this.onMessage(conn, reg, tag, payload));
    conn.on('close', (err) => this.onClose(conn, reg, err));
    this.log.info(restarted ? 'connection added (restarted peer)' : knewRoute ? 'connection added' : 'connection added (new peer)', {
      peer: `${remote.name}(${remote.nickname})`,
      address: conn.remoteAddr,
      outbound: conn.outbound,
    });
    this.localChanged();
    if (restarted || !knewRoute) this.gossip.sendAllDown(conn);
    this.emit('added', conn);

    const hook = this.opts.overlay;
    if (!hook) {
      this.established(conn);
      return;
    }
    try {
      reg.overlay = hook.attach(conn, {
        markEstablished: () => {
          this.established(conn);
        },
        fail: (err) => conn.close(err),
      });
    } catch (err) {
      conn.close(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private established(conn: MeshConnection): boolean {
    if (!this.ourself.markEstablished(conn)) return false;
    this.log.debug('connection established', { peer: conn.remote.name });
    this.localChanged();
    this.emit('established', conn);
    return true;
  }

  private onMessage(conn: MeshConnection, reg: Registered, tag: number, payload: Buffer): void {
    switch (tag) {
      case ProtocolTag.Heartbeat:
        return;
      case ProtocolTag.Gossip:
      case ProtocolTag.GossipUnicast:
      case ProtocolTag.GossipBroadcast:
        try {
          this.gossip.handle(conn, tag, payload);
        } catch (err) {
          const error = err instanceof Error ? err : new Error(String(err));
          this.log.warn('gossip error: closing connection', { peer: conn.remote.name, error: error.message });
          conn.close(error);
        }
        return;
      case ProtocolTag.ConnectionEstablished:
      case ProtocolTag.FragmentationReceived:
      case ProtocolTag.PMTUVerified:
      case ProtocolTag.OverlayControlMsg:
        reg.overlay?.onControlMessage(tag, payload);
        return;
      default:
        this.log.debug('ignoring message with unknown tag', { peer: conn.remote.name, tag });
    }
  }

  private onClose(conn: MeshConnection, reg: Registered, err?: Error): void {
    if (!this.registered.delete(conn)) return;
    reg.overlay?.close();
    if (this.ourself.deleteConnection(conn)) this.localChanged();
    this.peers.dereference(reg.peer);
    this.peers.scheduleGC();
    this.routes.recalculate();
    const quiet = err instanceof DuplicateConnectionError || !this.running;
    this.log.log(quiet ? 'debug' : 'info', 'connection deleted', { peer: `${conn.remote.name}(${conn.remote.nickname})`, reason: err?.message });
    this.connectionMaker.connectionTerminated(conn, err);
    this.emit('removed', conn);
  }

  /** Our own entry changed: new routes, tell the neighbours (coalesced), re-plan dialling. */
  private localChanged(): void {
    this.routes.recalculate();
    this.topologyChannel.gossipNeighbourSubset(this.topology.data([this.ourName]));
    this.connectionMaker.refresh();
  }

  private topologyChanged(): void {
    this.routes.recalculate();
    this.connectionMaker.refresh();
  }

  private emit(event: ConnectionEvent, conn: MeshConnection): void {
    for (const cb of this.connListeners) {
      try {
        cb(event, conn);
      } catch (err) {
        this.log.error('connection event listener failed', { event, error: String(err) });
      }
    }
  }

  private logRefusal(conn: MeshConnection, err: unknown): void {
    const quiet = err instanceof DuplicateConnectionError || err instanceof ConnectToSelfError;
    this.log.log(quiet ? 'debug' : 'info', 'connection refused', {
      peer: `${conn.remote.name}(${conn.remote.nickname})`,
      address: conn.remoteAddr,
      error: err instanceof Error ? err.message : String(err),
    });
  }
}
