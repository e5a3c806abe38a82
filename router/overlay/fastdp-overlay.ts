// The fastdp overlay of one host: a FastPath (kernel backend) plus one FastdpForwarder per
// connection. It tells the fast path which peers exist (for heartbeats) and which ones the
// overlay switch has put on fastdp (for container frames), and hands arriving heartbeats to the
// forwarder of their connection.
import type { Logger } from 'winston';
import type { MeshConnection, PeerName } from '../mesh/contract.ts';
import type { FastPath } from '../../datapath/fastpath/contract.ts';
import { componentLogger } from '../../common/logger.ts';
import { FASTDP_HEALTH_FEATURE, FastdpForwarder } from './fastdp-forwarder.ts';
import type { FastdpTiming } from './fastdp-forwarder.ts';
import { decodeHeartbeat } from './fastdp-heartbeat.ts';
import type { FastdpIpsec } from '../../datapath/ipsec/contract.ts';

/** The Overlays name of the vxlan-device backend: deliberately not "fastdp", which Weave peers
 *  take to mean their ODP encoding (VNI = dst<<12|src) that one plain vxlan device cannot speak. */
export const VXLAN_DEVICE_OVERLAY = 'fastdp-vxlan';
/** The ODP backend speaks Weave's encoding and heartbeats, so it uses Weave's name. */
export const ODP_OVERLAY = 'fastdp';

/** The Overlays name a fast-path backend is offered under. */
export function overlayNameFor(backend: string): string {
  return backend === 'odp' ? ODP_OVERLAY : VXLAN_DEVICE_OVERLAY;
}

export interface FastdpOverlayOptions {
  fastPath: FastPath;
  ourName: PeerName;
  logger: Logger;
  timing?: Partial<FastdpTiming>;
  /** With a password: encrypt every connection's fast path (ESP in the kernel). */
  ipsec?: FastdpIpsec;
}

export class FastdpOverlay {
  readonly fastPath: FastPath;
  private readonly opts: FastdpOverlayOptions;
  private readonly log: Logger;
  private readonly byConn = new Map<bigint, FastdpForwarder>();
  /** The forwarder that currently owns the kernel state of each peer (the newest confirmed). */
  private readonly owner = new Map<PeerName, FastdpForwarder>();

  constructor(opts: FastdpOverlayOptions) {
    this.opts = opts;
    this.fastPath = opts.fastPath;
    this.log = componentLogger(opts.logger, 'fastdp');
  }

  start(): void {
    this.fastPath.onHeartbeat((payload, size) => {
      const hb = decodeHeartbeat(payload, size);
      if (!hb) return;
      const fwd = this.byConn.get(hb.connUid);
      if (!fwd || (hb.ext !== undefined && fwd.remotePeer !== hb.ext.sender)) return;
      fwd.heartbeatReceived(hb.frameSize, hb.ext?.seq ?? 0);
    });
  }

  stop(): void {
    for (const fwd of this.byConn.values()) fwd.stop();
    this.byConn.clear();
    this.owner.clear();
  }

  /** A forwarder for the connection, or undefined when the remote address is not IPv4. */
  prepare(conn: MeshConnection, remotePeer: PeerName, sendControl: (tag: number, body: Buffer) => void): FastdpForwarder | undefined {
    const ip = conn.remoteAddr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    const localIp = conn.localAddr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '').replace(/^::ffff:/, '');
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) {
      this.log.warn(`Cannot use ${conn.remoteAddr} for fastdp (IPv4 only)`);
      return undefined;
    }
    const ipsec = this.opts.ipsec;
    if (ipsec && (!conn.sessionKey || !/^\d+\.\d+\.\d+\.\d+$/.test(localIp))) {
      this.log.warn(`Cannot encrypt fastdp to ${conn.remoteAddr} (no session key or no IPv4 local address ${conn.localAddr})`);
      return undefined;
    }
    return new FastdpForwarder({
      fastPath: this.fastPath,
      ourName: this.opts.ourName,
      remotePeer,
      remoteIp: ip,
      connUid: conn.connUid,
      weavePeer: conn.remote.features[FASTDP_HEALTH_FEATURE] === undefined,
      sendControl,
      logger: this.log,
      ...(ipsec && conn.sessionKey ? { ipsec: { ops: ipsec, sessionKey: conn.sessionKey, localIp } } : {}),
      ...(this.opts.timing ? { timing: this.opts.timing } : {}),
    });
  }

  /** The connection is registered: program the peer and start heartbeats. */
  async confirm(fwd: FastdpForwarder): Promise<void> {
    this.byConn.set(fwd.connUid, fwd);
    const previous = this.owner.get(fwd.remotePeer);
    this.owner.set(fwd.remotePeer, fwd);
    // a newer connection replaces an older one: it starts on sleeve until its own heartbeats
    // are confirmed, so the kernel must stop forwarding on the old one's behalf
    if (previous && previous !== fwd) await this.fastPath.setForwarding(fwd.remotePeer, false);
    await this.fastPath.addPeer(fwd.remotePeer, fwd.remoteIp);
    fwd.confirm();
  }

  /** The switch chose (or left) fastdp for this connection. */
  async setActive(fwd: FastdpForwarder, on: boolean): Promise<void> {
    if (this.owner.get(fwd.remotePeer) !== fwd) return;
    await this.fastPath.setForwarding(fwd.remotePeer, on);
  }

  async release(fwd: FastdpForwarder): Promise<void> {
    fwd.stop();
    if (this.byConn.get(fwd.connUid) === fwd) this.byConn.delete(fwd.connUid);
    if (this.owner.get(fwd.remotePeer) !== fwd) return;
    this.owner.delete(fwd.remotePeer);
    await this.fastPath.removePeer(fwd.remotePeer);
  }
}
