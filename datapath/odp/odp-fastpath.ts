// The fast-path contract on the Open vSwitch kernel datapath, the way Weave's fastdp does it:
// bridged_fastdp layout (odp-datapath.ts), a learning switch on misses (learning-bridge.ts),
// one VXLAN tunnel id per (source, destination) peer pair, and heartbeats as frames with
// all-zero MACs sent by EXECUTE through the same set-tunnel/output actions (so DF and the
// underlay MTU apply to them exactly as to data) and received as misses on the VXLAN vport.
//
// The bridge `weave` also carries the sleeve capture. Its port and vethwe-bridge are isolated
// from each other, as the vxlan-device backend does with its vxlan port: a frame that arrived
// over one path is never sent on over the other (no loops, no duplicates).
import type { Logger } from 'winston';
import { componentLogger } from '../../common/logger.ts';
import type { PeerName, ShortId } from '../../common/peer-identity.ts';
import { FastPathUnavailableError, HEARTBEAT_HEADER } from '../fastpath/contract.ts';
import type { FastPath, FastPathOptions, FastPathStats } from '../fastpath/contract.ts';
import { NetlinkError } from '../netlink/netlink-error.ts';
import { RtnetlinkClient } from '../netlink/rtnetlink/client.ts';
import { peersFromVni } from '../netlink/ovs/vni.ts';
import type { Upcall } from '../netlink/ovs/packet-codec.ts';
import { LearningBridge, tunnelActions } from './learning-bridge.ts';
import type { BridgeTopology, TunnelPeer } from './learning-bridge.ts';
import { OdpDatapath, OdpUnavailableError } from './odp-datapath.ts';
import { shortIdFromName } from './short-id.ts';

/** `bridge` is created if missing. */
export interface OdpFastPathOptions extends FastPathOptions {
  /** Our underlay address, the tunnels' outer source; default: the kernel's route choice. */
  localIp?: string;
  /** The mesh's 12-bit short id of a peer (ours included); where it gives none, one derived
   *  from the name. The mesh may reassign ids: call shortIdsChanged() when it does. */
  shortId?: (peer: PeerName) => ShortId | undefined;
  datapathName?: string;
  /** How often unused flows are deleted and stale MACs forgotten (Weave: 5 minutes). */
  expiryIntervalMs?: number;
}

interface PeerState extends TunnelPeer {
  forwarding: boolean;
}

const ZERO_MACS = Buffer.alloc(12);

export class OdpFastPath implements FastPath {
  readonly backend = 'odp';
  readonly mtu: number;
  readonly udpPort: number;
  readonly stats: FastPathStats = { heartbeatsSent: 0, heartbeatsReceived: 0, heartbeatsDropped: 0 };
  private readonly log: Logger;
  private readonly shortId: (peer: PeerName) => ShortId;
  private ourShortId: number;
  private readonly peers = new Map<PeerName, PeerState>();
  /** Short id -> peer, only for peers we forward container frames to: the learning bridge's view. */
  private readonly forwardingPeers = new Map<number, TunnelPeer>();
  private dp: OdpDatapath | undefined;
  private bridge: LearningBridge | undefined;
  private topo: BridgeTopology | undefined;
  private listener: ((payload: Buffer, frameSize: number) => void) | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private rtnl: RtnetlinkClient | undefined;

  constructor(private readonly opts: OdpFastPathOptions) {
    this.mtu = opts.mtu;
    this.udpPort = opts.port ?? 6784;
    const fromMesh = opts.shortId;
    this.shortId = fromMesh ? (peer) => fromMesh(peer) ?? shortIdFromName(peer) : shortIdFromName;
    this.ourShortId = this.shortId(opts.ourName);
    this.log = componentLogger(opts.logger, 'fastpath-odp');
  }

  async start(): Promise<void> {
    const dp = new OdpDatapath({
      logger: this.log,
      bridge: this.opts.bridge,
      mtu: this.mtu,
      vxlanPort: this.udpPort,
      ...(this.opts.netns === undefined ? {} : { netns: this.opts.netns }),
      ...(this.opts.datapathName === undefined ? {} : { datapath: this.opts.datapathName }),
    });
    try {
      await dp.start();
    } catch (err) {
      if (err instanceof OdpUnavailableError) throw new FastPathUnavailableError(err.message, { cause: err });
      if (err instanceof NetlinkError && err.code === 'EADDRINUSE') {
        throw new FastPathUnavailableError(`UDP ${this.udpPort} is in use on this host`, { cause: err });
      }
      throw err;
    }
    this.dp = dp;
    try {
      this.rtnl = RtnetlinkClient.open(this.opts.netns === undefined ? {} : { netns: this.opts.netns });
      for (const port of ['vethwe-bridge', ...(this.opts.isolatePorts ?? [])]) {
        if (await this.rtnl.getLink(port)) await this.rtnl.setBridgePortFlags(port, { isolated: true });
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.topo = {
      localShortId: this.ourShortId,
      localPorts: [dp.bridgePort],
      vxlanPort: dp.vxlanVport,
      peers: this.forwardingPeers,
      ...(this.opts.localIp === undefined ? {} : { localIp: this.opts.localIp }),
    };
    this.bridge = new LearningBridge(dp, this.topo, this.log);
    dp.onMiss((up) => this.onMiss(up));
    this.expiryTimer = setInterval(() => void this.expire(), this.opts.expiryIntervalMs ?? 5 * 60_000);
    this.expiryTimer.unref();
    this.log.info(`fast path up: ODP datapath ${dp.datapathName}, vxlan-${this.udpPort}, short id ${this.ourShortId}`);
  }

  async stop(): Promise<void> {
    clearInterval(this.expiryTimer);
    this.expiryTimer = undefined;
    const dp = this.dp;
    this.dp = undefined;
    this.bridge = undefined;
    this.peers.clear();
    this.forwardingPeers.clear();
    this.rtnl?.close();
    this.rtnl = undefined;
    await dp?.stop();
  }

  forwarding(peer: PeerName): boolean {
    return this.peers.get(peer)?.forwarding ?? false;
  }

  async addPeer(peer: PeerName, ip: string): Promise<void> {
    const old = this.peers.get(peer);
    if (old !== undefined && old.ip === ip) return;
    const st: PeerState = { shortId: this.shortId(peer), ip, forwarding: old?.forwarding ?? false };
    this.peers.set(peer, st);
    if (st.forwarding) {
      this.forwardingPeers.set(st.shortId, st);
      await this.invalidate();
    }
  }

  async removePeer(peer: PeerName): Promise<void> {
    const st = this.peers.get(peer);
    if (st === undefined) return;
    if (st.forwarding) await this.setForwarding(peer, false);
    this.peers.delete(peer);
  }

  async setForwarding(peer: PeerName, on: boolean): Promise<void> {
    const st = this.peers.get(peer);
    if (st === undefined || st.forwarding === on) return;
    st.forwarding = on;
    if (on) this.forwardingPeers.set(st.shortId, st);
    else {
      this.forwardingPeers.delete(st.shortId);
      for (const [mac, at] of this.bridge?.macs ?? []) if ('peer' in at && at.peer === st.shortId) this.bridge?.macs.delete(mac);
    }
    // Installed flows encode the old peer set (broadcast flows list every forwarding peer,
    // unicast flows point at a peer's tunnel): Weave deletes them all on such changes.
    await this.invalidate();
    // The bridge learned this peer's MACs on the port of the path it used until now; unicast
    // would keep going there. Forgetting them floods the next frame to both ports.
    await this.flushBridgePorts(on ? (this.opts.isolatePorts ?? []) : ['vethwe-bridge']);
    this.log.info(`${on ? 'forwarding' : 'not forwarding'} container frames to ${peer} (${st.ip})`);
  }

  sendHeartbeat(peer: PeerName, payload: Buffer, frameSize: number): boolean {
    const st = this.peers.get(peer);
    const dp = this.dp;
    if (st === undefined || dp === undefined || this.topo === undefined) return false;
    if (frameSize > HEARTBEAT_HEADER + this.mtu || frameSize < HEARTBEAT_HEADER + payload.length) {
      throw new RangeError(`heartbeat frame size ${frameSize} out of range`);
    }
    // Weave's heartbeat frame: 14 zero bytes of Ethernet header, the payload, zero padding.
    const frame = Buffer.alloc(frameSize);
    payload.copy(frame, HEARTBEAT_HEADER);
    this.stats.heartbeatsSent++;
    dp.execute(frame, Buffer.alloc(0), tunnelActions(this.topo, st)).catch((err: unknown) => {
      this.stats.heartbeatsSent--;
      this.stats.heartbeatsDropped++;
      this.log.debug(`heartbeat to ${peer} not sent: ${(err as Error).message}`);
    });
    return true;
  }

  onHeartbeat(listener: (payload: Buffer, frameSize: number) => void): void {
    this.listener = listener;
  }

  private onMiss(up: Upcall): void {
    const dp = this.dp;
    if (dp === undefined) return;
    if (up.key.inPort === dp.vxlanVport && up.packet.length >= HEARTBEAT_HEADER && up.packet.subarray(0, 12).equals(ZERO_MACS)) {
      const id = up.key.tunnel?.id;
      if (id === undefined || peersFromVni(id).dst !== this.ourShortId) return;
      this.stats.heartbeatsReceived++;
      this.listener?.(up.packet.subarray(HEARTBEAT_HEADER), up.packet.length);
      return;
    }
    void this.bridge?.handleMiss(up);
  }

  /** One expiry round: flows idle since the last round go, the others get their stats reset;
   *  MACs that are neither fresh nor behind a live flow are forgotten. */
  async expire(): Promise<{ flowsDeleted: number; macsForgotten: number }> {
    const dp = this.dp;
    const bridge = this.bridge;
    if (dp === undefined || bridge === undefined) return { flowsDeleted: 0, macsForgotten: 0 };
    try {
      const { deleted, kept } = await dp.expireFlows();
      const inUse = new Set(kept.flatMap((f) => (f.key.ethernet === undefined ? [] : [f.key.ethernet.src])));
      const macsForgotten = bridge.sweep(inUse);
      this.log.debug(`flow expiry: ${deleted.length} flows deleted, ${kept.length} kept, ${macsForgotten} MACs forgotten`);
      return { flowsDeleted: deleted.length, macsForgotten };
    } catch (err) {
      this.log.warn(`flow expiry failed: ${(err as Error).message}`);
      return { flowsDeleted: 0, macsForgotten: 0 };
    }
  }

  /** The mesh reassigned short ids (a collision, a peer gone): tunnel ids change, so every
   *  flow and every MAC learned behind a peer goes. */
  async shortIdsChanged(): Promise<void> {
    const ours = this.shortId(this.opts.ourName);
    let changed = ours !== this.ourShortId;
    this.ourShortId = ours;
    if (this.topo) this.topo.localShortId = ours;
    this.forwardingPeers.clear();
    for (const [name, st] of this.peers) {
      const id = this.shortId(name);
      if (id !== st.shortId) changed = true;
      st.shortId = id;
      if (st.forwarding) this.forwardingPeers.set(id, st);
    }
    if (!changed) return;
    for (const [mac, at] of this.bridge?.macs ?? []) if ('peer' in at) this.bridge?.macs.delete(mac);
    await this.invalidate();
    this.log.info(`short ids changed (ours: ${ours}): flows flushed`);
  }

  private async invalidate(): Promise<void> {
    await this.dp?.deleteFlows();
  }

  private async flushBridgePorts(ports: string[]): Promise<void> {
    const rtnl = this.rtnl;
    if (rtnl === undefined) return;
    for (const port of ports) {
      try {
        await rtnl.setBridgePortFlags(port, { flush: true });
      } catch (err) {
        if (!NetlinkError.is(err, 'ENODEV')) throw err;
      }
    }
  }
}
