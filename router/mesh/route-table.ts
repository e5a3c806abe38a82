// The mesh router's face towards the data plane (router/overlay): routes, peer lookup and
// connection events. The overlay codes against this file only; MeshRouter implements it.

import type { MeshConnection, PeerName } from './contract.ts';

/** What the data plane needs to know about a peer (a snapshot; do not keep it for long). */
export interface PeerInfo {
  name: PeerName;
  nickname: string;
  uid: bigint;
  version: number;
  shortId: number;
  hasShortId: boolean;
}

/** Route tables over connections that are established at both ends (Weave's Unicast/Broadcast). */
export interface RouteTable {
  readonly ourName: PeerName;
  /** Next hop towards `dst`; `dst` itself when directly connected; undefined when unreachable.
   *  For our own name it is undefined (nothing to forward). */
  unicastNextHop(dst: PeerName): PeerName | undefined;
  /** Neighbours to pass a broadcast originating at `src` on to (our own name for frames we
   *  originate); empty when `src` is unknown or unreachable. Sorted by name. */
  broadcastNextHops(src: PeerName): PeerName[];
  peer(name: PeerName): PeerInfo | undefined;
  peerByShortId(shortId: number): PeerInfo | undefined;
  /** Called after every route recalculation that changed a table. Returns an unsubscribe. */
  onRoutesChanged(cb: () => void): () => void;
  /** Called with peers removed from the table as unreachable (drop their MACs, flows, ...). */
  onPeerRemoved(cb: (peer: PeerInfo) => void): () => void;
  /** Called when the short-ID→peer mapping changed (fastdp must invalidate flows). */
  onShortIdsInvalidated(cb: () => void): () => void;
}

/** Per-connection control the router hands to the overlay. */
export interface OverlayConnectionControl {
  /** The data path to this peer works (heartbeat acknowledged): the router marks the
   *  connection established, bumps our version and gossips it. Idempotent. */
  markEstablished(): void;
  /** The data path cannot work ("no working forwarders"): the connection is torn down with it. */
  fail(err: Error): void;
}

/** The overlay's per-connection object. */
export interface OverlayConnection {
  /** Tag 7 (OverlayControlMsg) and legacy tags 1/2/3 received on this connection. */
  onControlMessage(tag: number, payload: Buffer): void;
  /** The TCP connection is gone (any reason): stop heartbeats, release state. */
  close(): void;
  /** For `weave status connections`: Weave's Attrs, e.g. { name: 'fastdp', mtu: 1376 }. */
  attrs?(): Record<string, unknown>;
}

/** Hook through which the router lets the overlay take part in each connection's life
 *  (Weave's Overlay.PrepareConnection + Confirm). Without one, connections count as
 *  established as soon as they are registered. */
export interface OverlayHook {
  /** Extra handshake features, e.g. { Overlays: "fastdp sleeve" }. */
  features?(): Record<string, string>;
  /** Called once the connection is registered in the peer table. Throwing refuses the
   *  connection. Send control messages with conn.send(ProtocolTag.OverlayControlMsg, ...). */
  attach(conn: MeshConnection, ctl: OverlayConnectionControl): OverlayConnection;
}

export type ConnectionEvent = 'added' | 'established' | 'removed';

/** Connection events about our own connections (after registration, never for refused ones). */
export interface ConnectionEvents {
  onConnectionEvent(cb: (event: ConnectionEvent, conn: MeshConnection) => void): () => void;
}
