// The overlay's face towards the router layer (Weave's Overlay / OverlayForwarder), and towards
// the network router that feeds it frames.
import type { MeshConnection, PeerName } from '../mesh/contract.ts';
import type { FrameForwarder, ForwarderLookup } from './network-router.ts';

/** Sleeve control message tags: legacy TCP tags 1-3, and the sub-tag inside tag 7. */
export const SleeveControlTag = {
  ConnectionEstablished: 1,
  FragmentationReceived: 2,
  PMTUVerified: 3,
} as const;

export interface OverlayForwarderAttrs {
  /** 'sleeve' or 'fastdp' (the overlay the connection's frames use now). */
  name: string;
  /** Current overlay MTU on this connection (IP packet size that passes without fragmenting). */
  mtu: number;
  encrypted: boolean;
}

export interface OverlayForwarderEvents {
  /** The remote acknowledged our UDP heartbeat: the data path works. Emitted once. */
  established: () => void;
  /** The forwarder gave up (heartbeat timeout, send failure). Emitted once; it is stopped. */
  error: (err: Error) => void;
}

/** One connection's data path (Weave's OverlayForwarder). forward() is FrameForwarder's:
 *  (buf, off, len) is a view the caller reuses after the call; the forwarder copies. */
export interface OverlayForwarder extends FrameForwarder {
  /** The router registered the connection: start heartbeats and accept frames. */
  confirm(): void;
  /** A sleeve control message (tag 1/2/3) from the remote, already unwrapped from tag 7. */
  controlMessage(tag: number, body: Buffer): void;
  /** Tag 7 for the sub-forwarder at `index` (an overlay switch). Without it, tag 7 messages
   *  for index 0 go to controlMessage. */
  subControlMessage?(index: number, tag: number, body: Buffer): void;
  stop(): void;
  attrs(): OverlayForwarderAttrs;
  on<E extends keyof OverlayForwarderEvents>(event: E, listener: OverlayForwarderEvents[E]): this;
  off<E extends keyof OverlayForwarderEvents>(event: E, listener: OverlayForwarderEvents[E]): this;
}

/** Receives frames that arrived from peers (the network router). */
export interface FrameConsumer {
  handleForwarded(srcPeer: PeerName, dstPeer: PeerName, buf: Buffer, off: number, len: number): void;
}

export interface PrepareOptions {
  /** How to send a sleeve control message to the remote. Default: tag 7 with sub-forwarder
   *  index 0 when the remote advertised the Overlays feature (sleeve is then the only common
   *  overlay we offer), else the legacy tags 1-3. An overlay switch passes its own. */
  sendControl?: (tag: number, body: Buffer) => void;
}

export interface NetworkOverlay extends ForwarderLookup {
  /** Features to advertise in the handshake. */
  features(): Record<string, string>;
  prepareConnection(conn: MeshConnection, remotePeer: PeerName, isOutbound: boolean, opts?: PrepareOptions): OverlayForwarder;
  start(consumer: FrameConsumer): void;
  stop(): void;
}
