// Fast path over one plain Linux vxlan device in the bridge (works on any kernel with vxlan;
// no Open vSwitch, no tc). Scheme, and why:
//
// * One device `vxlan-<port>` (default `vxlan-6784`), one fixed VNI, DF set, enslaved to the
//   bridge. Per-peer VNIs (Weave's ODP scheme dst<<12|src) cannot be expressed with plain
//   devices (one VNI both ways), so this backend does not claim Weave ODP compatibility.
// * Which peers get frames is decided by the device's FDB: an all-zero "flood" entry per peer
//   *currently on fastdp* (setForwarding). Peers on sleeve get no flood copies. The device
//   learns container MACs from arriving packets (learning on), so unicast goes to one peer;
//   turning a peer's forwarding off deletes what was learned for it.
// * The vxlan port is bridge-isolated, and so are the ports in `isolatePorts` (the sleeve
//   capture): frames never cross between the kernel path and the user-space path, so a frame
//   that arrived over one is never sent on over the other (no loops, no duplicates).
// * Heartbeats travel the data path: a TAP (`vethwe-fhb`) on the bridge, not isolated, that
//   floods nothing and learns nothing. Each peer has a heartbeat MAC; static bridge FDB entries
//   send a peer's heartbeat MAC to the vxlan port and the device's FDB sends it to the peer's
//   IP — whether or not the peer is forwarding. Our own heartbeat MAC is pinned to the TAP, so
//   heartbeats arriving from the vxlan port reach us through the bridge like any frame.
import crypto from 'node:crypto';
import type { Logger } from 'winston';
import { componentLogger } from '../../common/logger.ts';
import type { PeerName } from '../../common/peer-identity.ts';
import { macToBytes } from '../netlink/inet.ts';
import { NetlinkError } from '../netlink/netlink-error.ts';
import { RtnetlinkClient } from '../netlink/rtnetlink/client.ts';
import { NTF_MASTER, NTF_SELF, NUD_NOARP, NUD_PERMANENT } from '../netlink/rtnetlink/constants.ts';
import { TapDevice } from '../tap.ts';
import type { BridgePortFlags } from '../netlink/rtnetlink/bridge-port.ts';
import { FastPathUnavailableError, HEARTBEAT_HEADER } from './contract.ts';
import type { FastPath, FastPathOptions, FastPathStats } from './contract.ts';

export const FASTDP_PORT = 6784;
/** How often MACs learned behind peers we do not forward to are forgotten (see sweepLearned). */
const SWEEP_INTERVAL_MS = 1000;
/** "wea" — the one VNI of this backend. */
export const VXLAN_DEVICE_VNI = 0x776561;
/** IEEE local experimental ethertype, so no stack ever mistakes a heartbeat for traffic. */
export const HEARTBEAT_ETHERTYPE = 0x88b5;
const ZERO_MAC = '00:00:00:00:00:00';

/** `bridge` must exist. */
export interface VxlanDeviceFastPathOptions extends FastPathOptions {
  vni?: number;
  deviceName?: string;
  heartbeatTapName?: string;
}

/** The heartbeat MAC of a peer: locally administered unicast, 40 bits from its name. */
export function heartbeatMac(peer: PeerName): string {
  const h = crypto.createHash('sha256').update(`weave-fastdp-heartbeat:${peer}`).digest();
  const b = Buffer.from([0x7e, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!]);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

interface PeerState {
  ip: string;
  forwarding: boolean;
}

export class VxlanDeviceFastPath implements FastPath {
  readonly backend = 'vxlan-device';
  readonly mtu: number;
  readonly udpPort: number;
  readonly stats: FastPathStats = { heartbeatsSent: 0, heartbeatsReceived: 0, heartbeatsDropped: 0 };
  private readonly opts: VxlanDeviceFastPathOptions;
  private readonly log: Logger;
  private readonly vni: number;
  private readonly deviceName: string;
  private readonly tapName: string;
  private readonly ourHbMac: Buffer;
  private readonly peers = new Map<PeerName, PeerState>();
  private rtnl: RtnetlinkClient | undefined;
  private tap: TapDevice | undefined;
  private vxlanIndex = 0;
  private bridgeIndex = 0;
  private listener: ((payload: Buffer, frameSize: number) => void) | undefined;
  /** Serialises kernel updates so that add/forward/remove for one peer apply in order. */
  private queue: Promise<unknown> = Promise.resolve();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(opts: VxlanDeviceFastPathOptions) {
    this.opts = opts;
    this.mtu = opts.mtu;
    this.udpPort = opts.port ?? FASTDP_PORT;
    this.vni = opts.vni ?? VXLAN_DEVICE_VNI;
    this.deviceName = opts.deviceName ?? `vxlan-${this.udpPort}`;
    this.tapName = opts.heartbeatTapName ?? 'vethwe-fhb';
    this.ourHbMac = macToBytes(heartbeatMac(opts.ourName));
    this.log = componentLogger(opts.logger, 'fastpath-vxlan');
  }

  async start(): Promise<void> {
    const netnsOpt = this.opts.netns !== undefined ? { netns: this.opts.netns } : {};
    const rtnl = RtnetlinkClient.open(netnsOpt);
    this.rtnl = rtnl;
    try {
      const bridge = await rtnl.getLink(this.opts.bridge);
      if (!bridge) throw new Error(`bridge ${this.opts.bridge} does not exist`);
      this.bridgeIndex = bridge.index;
      for (const stale of [this.deviceName, this.tapName]) {
        if (await rtnl.getLink(stale)) await rtnl.deleteLink(stale);
      }
      try {
        await rtnl.createVxlan(this.deviceName, { vni: this.vni, port: this.udpPort, learning: true, df: 'set', ttl: 64, mtu: this.mtu });
      } catch (err) {
        if (err instanceof NetlinkError && (err.code === 'EOPNOTSUPP' || err.code === 'EAFNOSUPPORT')) {
          throw new FastPathUnavailableError('no vxlan support in kernel', { cause: err });
        }
        if (err instanceof NetlinkError && err.code === 'EADDRINUSE') {
          throw new FastPathUnavailableError(`UDP ${this.udpPort} is in use on this host`, { cause: err });
        }
        throw err;
      }
      const vxlan = await rtnl.getLink(this.deviceName);
      if (!vxlan) throw new Error(`${this.deviceName} vanished after creation`);
      this.vxlanIndex = vxlan.index;
      await rtnl.setLink(vxlan.index, { master: bridge.index });
      await this.setPortFlags(vxlan.index, { isolated: true });
      await rtnl.setUp(vxlan.index);
      const reloaded = await rtnl.getLink(vxlan.index);
      if (reloaded && !reloaded.up) {
        // a vxlan device that cannot bind its port stays down
        throw new FastPathUnavailableError(`UDP ${this.udpPort} is in use on this host`);
      }
      for (const name of this.opts.isolatePorts ?? []) {
        const port = await rtnl.getLink(name);
        if (port) await this.setPortFlags(port.index, { isolated: true });
      }

      this.tap = TapDevice.open(this.tapName, { ...netnsOpt, onFrame: (f) => this.onTapFrame(f) });
      await rtnl.setLink(this.tapName, { mtu: this.mtu, master: bridge.index });
      const tapLink = await rtnl.getLink(this.tapName);
      if (!tapLink) throw new Error(`${this.tapName} vanished after creation`);
      await this.setPortFlags(tapLink.index, { learning: false, unicastFlood: false, multicastFlood: false, broadcastFlood: false });
      await rtnl.setUp(tapLink.index);
      await rtnl.addFdb({ index: tapLink.index, mac: heartbeatMac(this.opts.ourName), flags: NTF_MASTER, state: NUD_NOARP, master: bridge.index }, { replace: true });
      this.sweeper = setInterval(() => {
        this.serial(() => this.sweepLearned()).catch((err: unknown) => this.log.debug(`FDB sweep failed: ${String(err)}`));
      }, SWEEP_INTERVAL_MS);
      this.sweeper.unref();
      this.log.info(`fast path up: ${this.deviceName} (VNI ${this.vni}, UDP ${this.udpPort}, MTU ${this.mtu})`);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    await this.queue.catch(() => undefined);
    const rtnl = this.rtnl;
    this.peers.clear();
    this.tap?.close();
    this.tap = undefined;
    if (rtnl) {
      try {
        if (await rtnl.getLink(this.deviceName)) await rtnl.deleteLink(this.deviceName);
      } catch (err) {
        this.log.warn(`could not delete ${this.deviceName}: ${(err as Error).message}`);
      }
      rtnl.close();
    }
    this.rtnl = undefined;
  }

  forwarding(peer: PeerName): boolean {
    return this.peers.get(peer)?.forwarding ?? false;
  }

  addPeer(peer: PeerName, ip: string): Promise<void> {
    return this.serial(async () => {
      const rtnl = this.requireRtnl();
      const old = this.peers.get(peer);
      if (old && old.ip === ip) return;
      if (old) await this.unprogram(peer, old);
      this.peers.set(peer, { ip, forwarding: false });
      const mac = heartbeatMac(peer);
      await rtnl.addFdb({ index: this.vxlanIndex, mac, flags: NTF_MASTER, state: NUD_NOARP, master: this.bridgeIndex }, { replace: true });
      await rtnl.addFdb({ index: this.vxlanIndex, mac, dst: ip, flags: NTF_SELF, state: NUD_PERMANENT | NUD_NOARP }, { replace: true });
      if (old?.forwarding) await this.program(peer, true);
    });
  }

  removePeer(peer: PeerName): Promise<void> {
    return this.serial(async () => {
      const st = this.peers.get(peer);
      if (!st) return;
      this.peers.delete(peer);
      await this.unprogram(peer, st);
    });
  }

  setForwarding(peer: PeerName, on: boolean): Promise<void> {
    return this.serial(() => this.program(peer, on));
  }

  sendHeartbeat(peer: PeerName, payload: Buffer, frameSize: number): boolean {
    if (!this.tap || !this.peers.has(peer)) return false;
    if (frameSize > HEARTBEAT_HEADER + this.mtu || frameSize < HEARTBEAT_HEADER + payload.length) {
      throw new RangeError(`heartbeat frame size ${frameSize} out of range`);
    }
    const frame = Buffer.alloc(frameSize);
    macToBytes(heartbeatMac(peer)).copy(frame, 0);
    this.ourHbMac.copy(frame, 6);
    frame.writeUInt16BE(HEARTBEAT_ETHERTYPE, 12);
    payload.copy(frame, HEARTBEAT_HEADER);
    if (this.tap.send(frame)) {
      this.stats.heartbeatsSent++;
      return true;
    }
    this.stats.heartbeatsDropped++;
    return false;
  }

  onHeartbeat(listener: (payload: Buffer, frameSize: number) => void): void {
    this.listener = listener;
  }

  private onTapFrame(frame: Buffer): void {
    if (frame.length < HEARTBEAT_HEADER || frame.readUInt16BE(12) !== HEARTBEAT_ETHERTYPE) return;
    if (!frame.subarray(0, 6).equals(this.ourHbMac)) return;
    this.stats.heartbeatsReceived++;
    this.listener?.(frame.subarray(HEARTBEAT_HEADER), frame.length);
  }

  private async program(peer: PeerName, on: boolean): Promise<void> {
    const st = this.peers.get(peer);
    if (!st || st.forwarding === on) return;
    const rtnl = this.requireRtnl();
    st.forwarding = on;
    if (on) {
      await rtnl.addFdb({ index: this.vxlanIndex, mac: ZERO_MAC, dst: st.ip }, { append: true });
      // Frames for this peer's MACs must now be flooded (to the vxlan port) rather than sent to
      // the user-space path where the bridge may have learned them.
      for (const name of this.opts.isolatePorts ?? []) {
        const port = await rtnl.getLink(name);
        if (port) await this.setPortFlags(port.index, { flush: true });
      }
    } else {
      await this.forgetForwarding(st.ip);
    }
    this.log.info(`${on ? 'forwarding' : 'not forwarding'} container frames to ${peer} (${st.ip}) over ${this.deviceName}`);
  }

  private async unprogram(peer: PeerName, st: PeerState): Promise<void> {
    const rtnl = this.requireRtnl();
    if (st.forwarding) await this.forgetForwarding(st.ip);
    const mac = heartbeatMac(peer);
    await ignoreMissing(rtnl.deleteFdb({ index: this.vxlanIndex, mac, dst: st.ip }));
    await ignoreMissing(rtnl.deleteFdb({ index: this.vxlanIndex, mac, flags: NTF_MASTER, master: this.bridgeIndex }));
  }

  /** Removes the flood entry and everything learned behind `ip`, and makes the bridge forget
   *  the MACs it learned on the vxlan port (it relearns the others at their next frame). */
  private async forgetForwarding(ip: string): Promise<void> {
    const rtnl = this.requireRtnl();
    await ignoreMissing(rtnl.deleteFdb({ index: this.vxlanIndex, mac: ZERO_MAC, dst: ip }));
    const entries = await rtnl.listFdb();
    for (const e of entries) {
      if (e.index !== this.vxlanIndex || e.dst !== ip || e.mac === undefined) continue;
      if (e.mac === ZERO_MAC || (e.state & NUD_PERMANENT) !== 0) continue;
      await ignoreMissing(rtnl.deleteFdb({ index: this.vxlanIndex, mac: e.mac, dst: ip }));
    }
    await this.setPortFlags(this.vxlanIndex, { flush: true });
  }

  /** The device learns from every VXLAN packet, also from a peer that still sends to us while
   *  we have put it on sleeve (the two ends switch a moment apart, or the path works one way
   *  only). Such entries would send our unicast into a path we gave up on, until they age out
   *  (300 s). So they are deleted as they appear. */
  private async sweepLearned(): Promise<void> {
    const rtnl = this.rtnl;
    if (!rtnl) return;
    const forwarding = new Set<string>();
    for (const st of this.peers.values()) if (st.forwarding) forwarding.add(st.ip);
    let deleted = 0;
    for (const e of await rtnl.listFdb()) {
      if (e.index !== this.vxlanIndex || e.dst === undefined || e.mac === undefined) continue;
      if (e.mac === ZERO_MAC || (e.state & NUD_PERMANENT) !== 0 || forwarding.has(e.dst)) continue;
      await ignoreMissing(rtnl.deleteFdb({ index: this.vxlanIndex, mac: e.mac, dst: e.dst }));
      deleted++;
    }
    if (deleted > 0) await this.setPortFlags(this.vxlanIndex, { flush: true });
  }

  private async setPortFlags(index: number, flags: BridgePortFlags): Promise<void> {
    await this.requireRtnl().setBridgePortFlags(index, flags);
  }

  private requireRtnl(): RtnetlinkClient {
    if (!this.rtnl) throw new Error('fast path not started');
    return this.rtnl;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }
}

async function ignoreMissing(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (err instanceof NetlinkError && (err.code === 'ENOENT' || err.code === 'ENODEV')) return;
    throw err;
  }
}
