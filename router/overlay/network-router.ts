// Forwarding decisions for Ethernet frames (Weave's router/network_router.go): frames captured
// from the local bridge, and frames received from peers over the overlay. The router learns
// where MACs live, and sends each frame to the unicast next hop of the peer owning its
// destination MAC, or along the broadcast tree when the destination is unknown/multicast.
//
// Frames are passed as (buffer, offset, length) views into batch memory that is reused after
// the call returns: forwarders and the injector must copy what they keep.
import type { Logger } from 'winston';
import type { PeerName } from '../mesh/contract.ts';
import type { RouteTable } from '../mesh/route-table.ts';
import { MacAdd, macToString } from './mac-cache.ts';
import type { MacCache } from './mac-cache.ts';

/** 01:80:c2:00:00:00, Spanning Tree BPDUs: never leave the host. */
const STP_MAC = 0x0180c2000000;
const ETH_HEADER = 14;

/** What the router needs from a per-connection forwarder. */
export interface FrameForwarder {
  /** Queues a frame for the connection's next packet. `broadcast`: the frame is a copy on the
   *  broadcast tree (a DF frame too big for the link is then dropped instead of answered with
   *  an ICMP error). */
  forward(buf: Buffer, off: number, len: number, srcPeer: PeerName, dstPeer: PeerName, broadcast: boolean): void;
}

/** The overlay's forwarders for established connections, by neighbour. */
export interface ForwarderLookup {
  forwarderTo(peer: PeerName): FrameForwarder | undefined;
}

/** Where frames for local MACs go (the bridge, through the capture device). */
export interface FrameInjector {
  inject(buf: Buffer, off: number, len: number): void;
}

export type RouterRoutes = Pick<RouteTable, 'ourName' | 'unicastNextHop' | 'broadcastNextHops'>;

export interface NetworkRouterOptions {
  routes: RouterRoutes;
  forwarders: ForwarderLookup;
  injector: FrameInjector;
  macs: MacCache;
  logger: Logger;
}

export interface NetworkRouterStats {
  captured: number;
  received: number;
  injected: number;
  forwarded: number;
  dropped: number;
}

export class NetworkRouter {
  readonly stats: NetworkRouterStats = { captured: 0, received: 0, injected: 0, forwarded: 0, dropped: 0 };
  private readonly routes: RouterRoutes;
  private readonly forwarders: ForwarderLookup;
  private readonly injector: FrameInjector;
  private readonly macs: MacCache;
  private readonly log: Logger;

  constructor(opts: NetworkRouterOptions) {
    this.routes = opts.routes;
    this.forwarders = opts.forwarders;
    this.injector = opts.injector;
    this.macs = opts.macs;
    this.log = opts.logger.child({ component: 'network-router' });
  }

  /** A frame the local bridge sent us (a container talking to the world). */
  handleCaptured(buf: Buffer, off: number, len: number): void {
    this.stats.captured++;
    if (len < ETH_HEADER) return this.drop();
    const us = this.routes.ourName;
    const dstMac = buf.readUIntBE(off, 6);
    const srcMac = buf.readUIntBE(off + 6, 6);
    switch (this.macs.add(srcMac, us)) {
      case MacAdd.New:
        this.log.info(`Discovered local MAC ${macToString(srcMac)}`);
        break;
      case MacAdd.Conflict:
        // Most likely a frame we injected ourselves coming back: never send it out again.
        this.log.warn(`Captured frame from MAC ${macToString(srcMac)} associated with another peer ${this.macs.lookup(srcMac)}`);
        return this.drop();
      default:
        break;
    }
    if (dstMac === STP_MAC) return this.drop();
    const dstPeer = this.macs.lookup(dstMac);
    if (dstPeer === us) {
      // The bridge delivers local traffic itself; a copy reaching us is a flood. Drop it.
      return this.drop();
    }
    if (dstPeer === undefined) return this.relayBroadcast(us, buf, off, len);
    this.relay(us, dstPeer, buf, off, len);
  }

  /** A frame a neighbour sent us over the overlay, with the original source and final
   *  destination peers from the sleeve frame record. */
  handleForwarded(srcPeer: PeerName, dstPeer: PeerName, buf: Buffer, off: number, len: number): void {
    this.stats.received++;
    if (len < ETH_HEADER) return this.drop();
    const us = this.routes.ourName;
    if (dstPeer !== us) {
      // not for us: we are a hop on the way
      return this.relay(srcPeer, dstPeer, buf, off, len);
    }
    // Unicast to us, or a broadcast copy (broadcast copies name the receiving hop as dst).
    const dstMac = buf.readUIntBE(off, 6);
    const srcMac = buf.readUIntBE(off + 6, 6);
    const learned = this.macs.addForced(srcMac, srcPeer);
    if (learned === MacAdd.New) this.log.info(`Discovered remote MAC ${macToString(srcMac)} at ${srcPeer}`);
    else if (learned === MacAdd.Conflict) this.log.info(`MAC ${macToString(srcMac)} moved to ${srcPeer}`);
    this.injector.inject(buf, off, len);
    this.stats.injected++;
    if (this.macs.lookup(dstMac) === us) return;
    this.relayBroadcast(srcPeer, buf, off, len);
  }

  /** The peer left the network: forget its MACs. */
  peerRemoved(peer: PeerName): void {
    this.macs.deletePeer(peer);
  }

  private relay(srcPeer: PeerName, dstPeer: PeerName, buf: Buffer, off: number, len: number): void {
    const hop = this.routes.unicastNextHop(dstPeer);
    if (hop === undefined) {
      // a race with the destination leaving is normal
      this.log.debug(`No route to ${dstPeer}; dropping frame`);
      return this.drop();
    }
    const fwd = this.forwarders.forwarderTo(hop);
    if (fwd === undefined) {
      this.log.debug(`No forwarder to next hop ${hop}; dropping frame`);
      return this.drop();
    }
    fwd.forward(buf, off, len, srcPeer, dstPeer, false);
    this.stats.forwarded++;
  }

  private relayBroadcast(srcPeer: PeerName, buf: Buffer, off: number, len: number): void {
    const hops = this.routes.broadcastNextHops(srcPeer);
    for (const hop of hops) {
      const fwd = this.forwarders.forwarderTo(hop);
      if (fwd === undefined) continue;
      // each copy names the neighbour it is sent to as its destination
      fwd.forward(buf, off, len, srcPeer, hop, true);
      this.stats.forwarded++;
    }
  }

  private drop(): void {
    this.stats.dropped++;
  }
}
