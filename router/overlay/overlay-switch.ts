// Per-connection choice between fastdp and sleeve (Weave's overlay switch, router/overlay_switch.go,
// with one difference: fastdp health is reversible, so a connection returns to fastdp when its
// heartbeats do).
//
// The common overlays are ordered by the dialling side's preference so both ends number them
// alike; each gets a sub-forwarder whose control messages travel in tag 7 with its index.
// The connection is established when any sub-forwarder is. chooseBest: fastdp when healthy,
// else sleeve.
//
// Forwarding with fastdp chosen: the kernel already flooded frames the local bridge flooded, so
// broadcast copies that we originate are not sent again; everything else the user-space path
// sees (unicast the bridge handed to the capture, frames relayed for other peers) goes over
// sleeve — fastdp "cannot handle" it, and sleeve is the fallthrough, as in Weave.
import { EventEmitter } from 'node:events';
import type { Logger } from 'winston';
import type { MeshConnection, PeerName } from '../mesh/contract.ts';
import { ProtocolTag } from '../mesh/contract.ts';
import { componentLogger } from '../../common/logger.ts';
import type { FrameConsumer, NetworkOverlay, OverlayForwarder, OverlayForwarderAttrs, PrepareOptions } from './contract.ts';
import { FASTDP_HEALTH_FEATURE, FASTDP_HEALTH_VERSION } from './fastdp-forwarder.ts';
import type { FastdpForwarder } from './fastdp-forwarder.ts';
import type { FastdpOverlay } from './fastdp-overlay.ts';

export const SLEEVE_OVERLAY = 'sleeve';

export interface OverlaySwitchOptions {
  ourName: PeerName;
  sleeve: NetworkOverlay;
  /** The fast path and its Overlays name (e.g. 'fastdp-vxlan'); absent when disabled. */
  fastdp?: { name: string; overlay: FastdpOverlay };
  /** Why fastdp is not offered (shown as every connection's reason): '--no-fastdp', ... */
  fastdpDisabledReason?: string;
  logger: Logger;
  /** A connection's chosen overlay changed. */
  onChosen?: (peer: PeerName, overlay: string) => void;
}

/** Orders the common overlays by the dialler's preference (both ends compute the same list). */
export function commonOverlays(ours: string[], theirs: string[], weDialled: boolean): string[] {
  return weDialled ? ours.filter((o) => theirs.includes(o)) : theirs.filter((o) => ours.includes(o));
}

export class OverlaySwitch implements NetworkOverlay {
  readonly ourName: PeerName;
  private readonly opts: OverlaySwitchOptions;
  private readonly log: Logger;
  private readonly byPeer = new Map<PeerName, ConnectionSwitch>();

  constructor(opts: OverlaySwitchOptions) {
    this.opts = opts;
    this.ourName = opts.ourName;
    this.log = componentLogger(opts.logger, 'overlay-switch');
  }

  private ours(): string[] {
    return this.opts.fastdp ? [this.opts.fastdp.name, SLEEVE_OVERLAY] : [SLEEVE_OVERLAY];
  }

  features(): Record<string, string> {
    const f: Record<string, string> = { Overlays: this.ours().join(' ') };
    if (this.opts.fastdp) f[FASTDP_HEALTH_FEATURE] = FASTDP_HEALTH_VERSION;
    return f;
  }

  start(consumer: FrameConsumer): void {
    this.opts.sleeve.start(consumer);
    this.opts.fastdp?.overlay.start();
  }

  stop(): void {
    for (const sw of [...this.byPeer.values()]) sw.stop();
    this.opts.fastdp?.overlay.stop();
    this.opts.sleeve.stop();
  }

  forwarderTo(peer: PeerName): ConnectionSwitch | undefined {
    return this.byPeer.get(peer);
  }

  /** Connections by peer, for status and metrics. */
  connections(): ConnectionSwitch[] {
    return [...this.byPeer.values()];
  }

  prepareConnection(conn: MeshConnection, remotePeer: PeerName, isOutbound: boolean, _opts?: PrepareOptions): OverlayForwarder {
    const advertised = conn.remote.features.Overlays;
    const fastdp = this.opts.fastdp;
    let notFastdp = this.opts.fastdpDisabledReason;
    if (advertised === undefined) {
      // a peer from before overlay negotiation: plain sleeve with the legacy control tags
      const sw = new ConnectionSwitch(this, remotePeer, [{ name: SLEEVE_OVERLAY, fwd: this.opts.sleeve.prepareConnection(conn, remotePeer, isOutbound) }], this.log);
      sw.fixedReason = notFastdp ?? 'peer does not negotiate overlays';
      return sw;
    }
    const common = commonOverlays(this.ours(), advertised.split(/\s+/).filter(Boolean), isOutbound);
    if (common.length === 0) throw new Error(`no common overlay (ours: ${this.ours().join(' ')}; theirs: ${advertised})`);
    const subs: SubForwarder[] = [];
    common.forEach((name, index) => {
      const sendControl = (tag: number, body: Buffer): void => {
        const msg = Buffer.allocUnsafe(2 + body.length);
        msg[0] = index;
        msg[1] = tag;
        body.copy(msg, 2);
        conn.send(ProtocolTag.OverlayControlMsg, msg);
      };
      if (name === SLEEVE_OVERLAY) {
        subs.push({ name, fwd: this.opts.sleeve.prepareConnection(conn, remotePeer, isOutbound, { sendControl }) });
      } else if (fastdp && name === fastdp.name) {
        const fwd = fastdp.overlay.prepare(conn, remotePeer, sendControl);
        if (fwd) subs.push({ name, fastdp: fwd });
        else subs.push({ name, unusable: true });
      }
    });
    if (fastdp && !common.includes(fastdp.name)) notFastdp ??= `peer does not offer ${fastdp.name}`;
    const sw = new ConnectionSwitch(this, remotePeer, subs, this.log);
    if (notFastdp !== undefined) sw.fixedReason = notFastdp;
    return sw;
  }

  // ---- for ConnectionSwitch ----

  register(sw: ConnectionSwitch): void {
    this.byPeer.set(sw.remotePeer, sw);
  }

  unregister(sw: ConnectionSwitch): void {
    if (this.byPeer.get(sw.remotePeer) === sw) this.byPeer.delete(sw.remotePeer);
  }

  fastdpOverlay(): FastdpOverlay | undefined {
    return this.opts.fastdp?.overlay;
  }

  chosen(peer: PeerName, overlay: string): void {
    this.opts.onChosen?.(peer, overlay);
  }
}

interface SubForwarder {
  name: string;
  fwd?: OverlayForwarder;
  fastdp?: FastdpForwarder;
  /** Offered by both but impossible here (e.g. no IPv4 address): kept for its index only. */
  unusable?: boolean;
  failed?: boolean;
}

export interface SwitchAttrs extends Omit<OverlayForwarderAttrs, 'name'> {
  name: string;
  /** Why the connection is not on fastdp (absent when it is). */
  reason?: string;
}

/** One connection's overlays. Implements OverlayForwarder so the hook and the router use it
 *  like any forwarder. */
export class ConnectionSwitch extends EventEmitter implements OverlayForwarder {
  readonly remotePeer: PeerName;
  fixedReason: string | undefined;
  private readonly owner: OverlaySwitch;
  private readonly subs: SubForwarder[];
  private readonly log: Logger;
  private current: SubForwarder | undefined;
  private established = false;
  private stopped = false;

  constructor(owner: OverlaySwitch, remotePeer: PeerName, subs: SubForwarder[], log: Logger) {
    super();
    this.owner = owner;
    this.remotePeer = remotePeer;
    this.subs = subs;
    this.log = log;
  }

  /** The overlay frames go over now ('fastdp-vxlan' or 'sleeve'). */
  get chosenName(): string | undefined {
    return this.current?.name;
  }

  confirm(): void {
    for (const sub of this.subs) {
      if (sub.fwd) {
        const fwd = sub.fwd;
        fwd.on('established', () => this.subEstablished());
        fwd.on('error', (err) => this.subFailed(sub, err));
        fwd.confirm();
      } else if (sub.fastdp) {
        const fd = sub.fastdp;
        fd.on('established', () => this.subEstablished());
        fd.on('health', () => this.chooseBest());
        fd.on('error', (err) => this.subFailed(sub, err));
        const overlay = this.owner.fastdpOverlay();
        overlay?.confirm(fd).catch((err: unknown) => this.subFailed(sub, err instanceof Error ? err : new Error(String(err))));
      }
    }
    this.owner.register(this);
    this.chooseBest();
  }

  controlMessage(tag: number, body: Buffer): void {
    // legacy tags 1-3 (no Overlays feature): only sleeve exists then
    this.subs.find((s) => s.name === SLEEVE_OVERLAY)?.fwd?.controlMessage(tag, body);
  }

  /** Tag 7: a control message for the sub-forwarder at `index`. */
  subControlMessage(index: number, tag: number, body: Buffer): void {
    const sub = this.subs[index];
    if (!sub || sub.failed) return;
    if (sub.fwd) sub.fwd.controlMessage(tag, body);
    else sub.fastdp?.controlMessage(tag, body);
  }

  forward(buf: Buffer, off: number, len: number, srcPeer: PeerName, dstPeer: PeerName, broadcast: boolean): void {
    const cur = this.current;
    if (cur?.fastdp) {
      // the kernel flooded what our bridge flooded; anything else needs the user-space path
      if (broadcast && srcPeer === this.owner.ourName) return;
      this.sleeveSub()?.fwd?.forward(buf, off, len, srcPeer, dstPeer, broadcast);
      return;
    }
    cur?.fwd?.forward(buf, off, len, srcPeer, dstPeer, broadcast);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.owner.unregister(this);
    for (const sub of this.subs) {
      sub.fwd?.stop();
      if (sub.fastdp) {
        const overlay = this.owner.fastdpOverlay();
        overlay?.release(sub.fastdp).catch((err: unknown) => this.log.warn(`releasing fastdp to ${this.remotePeer}: ${String(err)}`));
      }
    }
  }

  attrs(): SwitchAttrs {
    const cur = this.current;
    if (cur?.fastdp) return { name: 'fastdp', mtu: cur.fastdp.mtu, encrypted: cur.fastdp.encrypted };
    const sleeve = this.sleeveSub()?.fwd?.attrs();
    const out: SwitchAttrs = { name: sleeve?.name ?? SLEEVE_OVERLAY, mtu: sleeve?.mtu ?? 0, encrypted: sleeve?.encrypted ?? false };
    const reason = this.reason();
    if (reason !== undefined) out.reason = reason;
    return out;
  }

  /** Why this connection is not on fastdp; undefined when it is. */
  reason(): string | undefined {
    if (this.current?.fastdp) return undefined;
    if (this.fixedReason !== undefined) return this.fixedReason;
    const fd = this.subs.find((s) => s.fastdp || s.unusable);
    if (!fd) return undefined;
    if (fd.unusable) return 'fastdp needs an IPv4 underlay address';
    if (fd.failed) return 'fastdp failed on this connection';
    return fd.fastdp?.reason();
  }

  private sleeveSub(): SubForwarder | undefined {
    return this.subs.find((s) => s.name === SLEEVE_OVERLAY && !s.failed);
  }

  private subEstablished(): void {
    if (this.stopped) return;
    this.chooseBest();
    if (this.established) return;
    this.established = true;
    this.emit('established');
  }

  private subFailed(sub: SubForwarder, err: Error): void {
    if (this.stopped || sub.failed) return;
    sub.failed = true;
    this.log.warn(`${sub.name} to ${this.remotePeer} failed: ${err.message}`);
    if (this.subs.every((s) => s.failed || s.unusable)) {
      this.stop();
      this.emit('error', new Error(`no working forwarders to ${this.remotePeer}: ${err.message}`));
      return;
    }
    this.chooseBest();
  }

  /** fastdp when healthy, else sleeve; with neither, the first that has not failed. */
  private chooseBest(): void {
    if (this.stopped) return;
    const usable = this.subs.filter((s) => !s.failed && !s.unusable);
    const best = usable.find((s) => s.fastdp?.healthy === true) ?? usable.find((s) => s.fwd !== undefined) ?? usable[0];
    if (best === this.current) return;
    const prev = this.current;
    this.current = best;
    if (prev?.fastdp) void this.activate(prev.fastdp, false);
    if (!best) return;
    const why = best.fastdp ? '' : ` (${this.reason() ?? 'fastdp not negotiated'})`;
    this.log.info(`connection to ${this.remotePeer} now uses ${best.name}${why}`);
    if (best.fastdp) {
      // The router forgets the peer's MACs only once the kernel forwards to it and the bridge has
      // flushed what it learned on the capture port. Forgetting first lets a sleeve frame from the
      // peer (which may switch a moment later) teach the router again before the flush; the next
      // frame the bridge then floods goes out in the kernel and over sleeve: a duplicate.
      void this.activate(best.fastdp, true).then(() => {
        if (this.current === best && !this.stopped) this.owner.chosen(this.remotePeer, best.name);
      });
    } else {
      this.owner.chosen(this.remotePeer, best.name);
    }
  }

  private async activate(fd: FastdpForwarder, on: boolean): Promise<void> {
    try {
      await this.owner.fastdpOverlay()?.setActive(fd, on);
    } catch (err) {
      this.log.warn(`programming fastdp to ${this.remotePeer}: ${String(err)}`);
    }
  }
}
