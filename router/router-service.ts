import { StopStack } from '../common/stop-stack.ts';
import type { Logger } from '../common/logger.ts';
import { componentLogger } from '../common/logger.ts';
import { createLocalIdentity } from './mesh/identity.ts';
import type { LocalIdentity } from './mesh/contract.ts';
import { MeshRouter } from './mesh/router.ts';
import type { RouterStatus } from './mesh/status.ts';
import { MacCache } from './overlay/mac-cache.ts';
import { NetworkRouter } from './overlay/network-router.ts';
import { overlayHook } from './overlay/overlay-hook.ts';
import { SleeveOverlay } from './overlay/sleeve.ts';
import type { CaptureOpener, FrameCapture } from '../datapath/capture/contract.ts';
import type { DatagramSockets } from '../datapath/datagram/contract.ts';
import { FastPathUnavailableError } from '../datapath/fastpath/contract.ts';
import type { FastPath, FastPathChoice, FastPathContext } from '../datapath/fastpath/contract.ts';
import type { FastdpIpsec } from '../datapath/ipsec/contract.ts';
import { FastdpOverlay, overlayNameFor } from './overlay/fastdp-overlay.ts';
import { OverlaySwitch } from './overlay/overlay-switch.ts';

export interface RouterServiceOptions {
  dataDir: string;
  logger: Logger;
  /** Opens the capture on the bridge whose frames the overlay carries (it must exist before
   *  start). */
  openCapture: CaptureOpener;
  /** The sleeve's UDP sockets. */
  sockets: DatagramSockets;
  bridgeMtu: number;
  /** TCP control port; sleeve uses the same number on UDP. */
  port: number;
  /** Address to listen on; undefined = all. */
  host?: string;
  password?: Uint8Array;
  peers: string[];
  /** Reuse the persisted direct targets (a restarted daemon rejoins the same peers). */
  resume: boolean;
  connLimit: number;
  discovery: boolean;
  /** `--name` (a MAC-style peer name); derived and persisted when undefined. */
  name?: string;
  nickname?: string;
  /** The kernel fast path the daemon chose, or why there is none. */
  fastPath: FastPathChoice;
}

export interface RouterServiceStatus extends RouterStatus {
  /** Frame counters of the user-space data path. */
  Sleeve: { packetsIn: number; packetsOut: number; captured: number; injected: number; forwarded: number; dropped: number };
  /** The kernel fast path: its backend when running, else why not. */
  Fastdp: { enabled: boolean; backend?: string; mtu?: number; port?: number; reason?: string; heartbeatsSent?: number; heartbeatsReceived?: number };
}

/** The per-host router: the mesh control plane (TCP 6783) plus the sleeve data plane (UDP
 *  6783) and the capture on the bridge, wired together. Start order matters: the overlay must
 *  be listening before the mesh accepts connections, and the capture must exist before frames
 *  arrive from peers. */
export class RouterService {
  private identity: LocalIdentity | undefined;
  private mesh: MeshRouter | undefined;
  private sleeve: SleeveOverlay | undefined;
  private capture: FrameCapture | undefined;
  private macs: MacCache | undefined;
  private network: NetworkRouter | undefined;
  private fastPath: FastPath | undefined;
  private ipsec: FastdpIpsec | undefined;
  private fastdpReason: string | undefined;
  private overlays: OverlaySwitch | undefined;
  private readonly stops: StopStack;
  private readonly log: Logger;

  constructor(private readonly opts: RouterServiceOptions) {
    this.log = componentLogger(opts.logger, 'router');
    this.stops = new StopStack(this.log);
  }

  get name(): string | undefined {
    return this.identity?.name;
  }

  /** The mesh and our identity once started, for other gossip channel owners (IPAM). */
  meshAccess(): { mesh: MeshRouter; identity: LocalIdentity } {
    if (!this.mesh || !this.identity) throw new Error('router not started');
    return { mesh: this.mesh, identity: this.identity };
  }

  async start(): Promise<void> {
    const { opts } = this;
    try {
      const identity = await createLocalIdentity({
        dataDir: opts.dataDir,
        ...(opts.name !== undefined ? { explicit: opts.name } : {}),
        ...(opts.nickname !== undefined ? { nickname: opts.nickname } : {}),
      });
      this.identity = identity;
      // the overlay and the capture are built before the objects their callbacks reach
      const late: { mesh?: MeshRouter; network?: NetworkRouter } = {};
      const capture = await opts.openCapture((buf, off, len) => late.network?.handleCaptured(buf, off, len));
      this.stops.push(() => capture.close());
      const fastPath = await this.startFastPath({
        ourName: identity.name,
        // a backend that puts short ids on the wire (ODP) reads them from the mesh once it exists
        shortId: (peer) => late.mesh?.peer(peer)?.shortId ?? (peer === identity.name ? identity.shortId : undefined),
        isolatePorts: [capture.name],
      });
      const sleeve: SleeveOverlay = new SleeveOverlay({
        ourName: identity.name,
        logger: opts.logger,
        port: opts.port,
        peerPort: opts.port,
        ...(opts.host !== undefined ? { bindAddress: opts.host } : {}),
        bridgeMtu: opts.bridgeMtu,
        sockets: opts.sockets,
        // frames naming peers the topology does not know are dropped, as Weave does
        knownPeer: (n: string): boolean => late.mesh?.peer(n) !== undefined,
      });
      const macs = new MacCache();
      const overlays = new OverlaySwitch({
        ourName: identity.name,
        sleeve,
        ...(fastPath ? { fastdp: { name: overlayNameFor(fastPath.backend), overlay: new FastdpOverlay({ fastPath, ourName: identity.name, logger: opts.logger, ...(this.ipsec ? { ipsec: this.ipsec } : {}) }) } } : {}),
        ...(this.fastdpReason !== undefined ? { fastdpDisabledReason: this.fastdpReason } : {}),
        logger: opts.logger,
        // the router learnt this peer's MACs from sleeve frames; on fastdp the kernel carries
        // them, and a stale entry would send unicast over sleeve as well as the kernel's flood
        onChosen: (peer, overlay) => {
          if (overlay !== 'sleeve') macs.deletePeer(peer);
        },
      });
      const mesh: MeshRouter = new MeshRouter({
        identity,
        dataDir: opts.dataDir,
        port: opts.port,
        ...(opts.host !== undefined ? { host: opts.host } : {}),
        ...(opts.password !== undefined ? { password: opts.password } : {}),
        peers: opts.peers,
        resume: opts.resume,
        connLimit: opts.connLimit,
        discovery: opts.discovery,
        logger: opts.logger,
        overlay: overlayHook(overlays, opts.logger),
      });
      late.mesh = mesh;
      const network = new NetworkRouter({ routes: mesh, forwarders: overlays, injector: capture, macs, logger: opts.logger });
      macs.start();
      this.stops.push(() => macs.stop());
      late.network = network;
      overlays.start(network);
      this.stops.push(() => overlays.stop());
      mesh.onPeerRemoved((p) => network.peerRemoved(p.name));
      const shortIdsChanged = fastPath?.shortIdsChanged?.bind(fastPath);
      if (shortIdsChanged) {
        const refresh = (): void => void shortIdsChanged().catch((err: unknown) => this.log.warn(`short id refresh failed: ${String(err)}`));
        this.stops.push(mesh.onShortIdsInvalidated(refresh));
      }
      await mesh.start();
      this.stops.push(() => mesh.stop());
      Object.assign(this, { mesh, sleeve, capture, macs, network, overlays });
      this.log.info('router started', { name: identity.name, nickname: identity.nickname, port: opts.port, peers: opts.peers });
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.stops.unwind();
  }

  /** Starts the fast path the daemon chose; records why not otherwise (shown per connection).
   *  A failure here never stops the router: sleeve carries everything then. */
  private async startFastPath(ctx: FastPathContext): Promise<FastPath | undefined> {
    const choice = this.opts.fastPath;
    if ('disabled' in choice) {
      this.fastdpReason = choice.disabled;
      return undefined;
    }
    let ipsec: FastdpIpsec | undefined;
    if (choice.ipsec) {
      ipsec = choice.ipsec();
      try {
        await ipsec.start();
      } catch (err) {
        this.fastdpReason = err instanceof FastPathUnavailableError ? err.message : `IPsec: ${String(err)}`;
        this.log.warn(`encrypted fast data path not available, connections use encrypted sleeve: ${this.fastdpReason}`);
        return undefined;
      }
      const started = ipsec;
      this.stops.push(() => started.stop());
    }
    let fastPath: FastPath;
    try {
      fastPath = await choice.start(ctx);
    } catch (err) {
      this.fastdpReason = err instanceof FastPathUnavailableError ? err.message : String(err);
      this.log.warn(`fast data path not available, using sleeve only: ${this.fastdpReason}`);
      return undefined;
    }
    this.stops.push(() => fastPath.stop());
    this.fastPath = fastPath;
    this.ipsec = ipsec;
    return fastPath;
  }

  connect(peers: string[], replace: boolean): string[] {
    return this.requireMesh()
      .connect(peers, replace)
      .map((e) => e.message);
  }

  forget(peers: string[]): void {
    this.requireMesh().forget(peers);
  }

  status(): RouterServiceStatus {
    const mesh = this.requireMesh();
    const s = this.sleeve!.stats;
    const n = this.network!.stats;
    const c = this.capture!.stats;
    return {
      ...mesh.status(),
      Sleeve: { packetsIn: s.packetsIn, packetsOut: s.packetsOut, captured: c.captured, injected: c.injected, forwarded: n.forwarded, dropped: n.dropped },
      Fastdp: this.fastPath
        ? {
            enabled: true,
            backend: this.fastPath.backend,
            mtu: this.fastPath.mtu,
            port: this.fastPath.udpPort,
            heartbeatsSent: this.fastPath.stats.heartbeatsSent,
            heartbeatsReceived: this.fastPath.stats.heartbeatsReceived,
          }
        : { enabled: false, ...(this.fastdpReason !== undefined ? { reason: this.fastdpReason } : {}) },
    };
  }

  private requireMesh(): MeshRouter {
    if (!this.mesh) throw new Error('router not started');
    return this.mesh;
  }
}
