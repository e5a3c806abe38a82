import type { Logger } from '../common/logger.ts';
import { componentLogger } from '../common/logger.ts';
import { createLocalIdentity } from './mesh/identity.ts';
import type { LocalIdentity } from './mesh/contract.ts';
import { MeshRouter } from './mesh/router.ts';
import type { RouterStatus } from './mesh/status.ts';
import { TapCapture } from './overlay/capture.ts';
import { MacCache } from './overlay/mac-cache.ts';
import { NetworkRouter } from './overlay/network-router.ts';
import { overlayHook } from './overlay/overlay-hook.ts';
import { SleeveOverlay } from './overlay/sleeve.ts';

export interface RouterServiceOptions {
  dataDir: string;
  logger: Logger;
  /** Bridge whose frames the overlay carries (it must exist before start). */
  bridgeName: string;
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
}

export interface RouterServiceStatus extends RouterStatus {
  /** Frame counters of the user-space data path. */
  Sleeve: { packetsIn: number; packetsOut: number; captured: number; injected: number; forwarded: number; dropped: number };
}

/** The per-host router: the mesh control plane (TCP 6783) plus the sleeve data plane (UDP
 *  6783) and the capture on the bridge, wired together. Start order matters: the overlay must
 *  be listening before the mesh accepts connections, and the capture must exist before frames
 *  arrive from peers. */
export class RouterService {
  private identity: LocalIdentity | undefined;
  private mesh: MeshRouter | undefined;
  private sleeve: SleeveOverlay | undefined;
  private capture: TapCapture | undefined;
  private macs: MacCache | undefined;
  private network: NetworkRouter | undefined;
  private readonly stops: (() => Promise<void> | void)[] = [];
  private readonly log: Logger;

  constructor(private readonly opts: RouterServiceOptions) {
    this.log = componentLogger(opts.logger, 'router');
  }

  get name(): string | undefined {
    return this.identity?.name;
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
      const sleeve: SleeveOverlay = new SleeveOverlay({
        ourName: identity.name,
        logger: opts.logger,
        port: opts.port,
        peerPort: opts.port,
        ...(opts.host !== undefined ? { bindAddress: opts.host } : {}),
        bridgeMtu: opts.bridgeMtu,
        // frames naming peers the topology does not know are dropped, as Weave does
        knownPeer: (n: string): boolean => late.mesh?.peer(n) !== undefined,
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
        overlay: overlayHook(sleeve, opts.logger),
      });
      late.mesh = mesh;
      const macs = new MacCache();
      const capture = await TapCapture.open({
        bridge: opts.bridgeName,
        logger: opts.logger,
        onFrame: (buf, off, len) => late.network?.handleCaptured(buf, off, len),
      });
      this.stops.push(() => capture.close());
      const network = new NetworkRouter({ routes: mesh, forwarders: sleeve, injector: capture, macs, logger: opts.logger });
      macs.start();
      this.stops.push(() => macs.stop());
      late.network = network;
      sleeve.start(network);
      this.stops.push(() => sleeve.stop());
      mesh.onPeerRemoved((p) => network.peerRemoved(p.name));
      await mesh.start();
      this.stops.push(() => mesh.stop());
      Object.assign(this, { mesh, sleeve, capture, macs, network });
      this.log.info('router started', { name: identity.name, nickname: identity.nickname, port: opts.port, peers: opts.peers });
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    while (this.stops.length > 0) {
      try {
        await this.stops.pop()!();
      } catch (err) {
        this.log.warn('error while stopping', { error: err instanceof Error ? err.message : String(err) });
      }
    }
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
    };
  }

  private requireMesh(): MeshRouter {
    if (!this.mesh) throw new Error('router not started');
    return this.mesh;
  }
}
