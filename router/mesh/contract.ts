// Contracts between the parts of the mesh (Weave Net 2.x control plane): the wire layer
// (handshake, framing, crypto, gob codecs) and the router layer (peers, routes, gossip,
// connection maker). The router codes against these; the wire layer implements them.

import type { PeerName } from '../../common/peer-identity.ts';

export type { PeerName };

export interface LocalIdentity {
  name: PeerName;
  nickname: string;
  /** Random non-zero per process start: tells a restarted peer from the old incarnation. */
  uid: bigint;
  /** 12-bit id used by the fast data path's VNI packing. */
  shortId: number;
}

export interface RemoteIdentity {
  name: PeerName;
  nickname: string;
  uid: bigint;
  shortId?: number;
  /** The remote's random ConnID from its features. */
  connId: bigint;
  /** All features the remote sent (Overlays, Trusted, ...). */
  features: Record<string, string>;
}

/** Tag byte of each framed message on an established TCP connection. */
export const ProtocolTag = {
  Heartbeat: 0,
  ConnectionEstablished: 1,
  FragmentationReceived: 2,
  PMTUVerified: 3,
  Gossip: 4,
  GossipUnicast: 5,
  GossipBroadcast: 6,
  OverlayControlMsg: 7,
} as const;
export type ProtocolTag = (typeof ProtocolTag)[keyof typeof ProtocolTag];

export interface MeshConnectionEvents {
  message: (tag: number, payload: Buffer) => void;
  /** Emitted once; `err` says why (heartbeat timeout, decrypt failure, remote closed, ...). */
  close: (err?: Error) => void;
}

/** A TCP control connection after a successful handshake. It owns framing, encryption and the
 *  TCP heartbeat (send every 30 s, close when nothing arrives for 60 s). */
export interface MeshConnection {
  readonly local: LocalIdentity;
  readonly remote: RemoteIdentity;
  readonly outbound: boolean;
  /** "ip:port" of the remote end of the TCP connection. */
  readonly remoteAddr: string;
  readonly localAddr: string;
  /** Our ConnID XOR theirs: the same on both ends; ties are broken on it. */
  readonly connUid: bigint;
  /** Negotiated protocol version (1 or 2). */
  readonly version: number;
  /** Session key (SHA-256(box.before ‖ password)) when a password is set; sleeve reuses it. */
  readonly sessionKey?: Uint8Array;
  send(tag: number, payload: Uint8Array): void;
  close(reason?: Error): void;
  on<E extends keyof MeshConnectionEvents>(event: E, listener: MeshConnectionEvents[E]): this;
  off<E extends keyof MeshConnectionEvents>(event: E, listener: MeshConnectionEvents[E]): this;
}

export interface HandshakeOptions {
  local: LocalIdentity;
  /** When set, the connection is encrypted (NaCl box key exchange + secretbox framing). */
  password?: Uint8Array;
  /** Extra features to advertise (e.g. Overlays: "fastdp sleeve", Trusted: "false"). */
  features?: Record<string, string>;
  minVersion?: number;
  maxVersion?: number;
  /** Header phase deadline (Weave: 10 s); feature phase 60 s. */
  headerTimeoutMs?: number;
  featuresTimeoutMs?: number;
}

/** Gossip as summarised for topology exchange (Weave's peerSummary + connectionSummary). */
export interface ConnectionSummary {
  name: PeerName;
  remoteTcpAddr: string;
  outbound: boolean;
  established: boolean;
}

export interface PeerSummary {
  name: PeerName;
  nickname: string;
  uid: bigint;
  version: number;
  shortId: number;
  hasShortId: boolean;
  connections: ConnectionSummary[];
}

/** Payload of tags 4, 5, 6 (Gossip, GossipUnicast, GossipBroadcast). */
export interface GossipEnvelope {
  channel: string;
  source: PeerName;
  /** Only for GossipUnicast. */
  destination?: PeerName;
  payload: Buffer;
}

/** One gossip channel's data (mesh's GossipData): mergeable, and encodable as one or more
 *  independent gob payloads. */
export interface GossipData {
  encode(): Buffer[];
  merge(other: GossipData): GossipData;
}

/** What a gossip channel's owner (topology, IPAM, DNS) implements (mesh's Gossiper). */
export interface Gossiper {
  /** Full state to send periodically and to new peers; undefined = nothing to say. */
  gossip(): GossipData | undefined;
  /** Merge received periodic gossip; return the delta that improved our state, if any. */
  onGossip(update: Buffer): GossipData | undefined;
  /** Merge a received broadcast; return what to pass on, if anything. */
  onGossipBroadcast(source: PeerName, update: Buffer): GossipData | undefined;
  onGossipUnicast(source: PeerName, message: Buffer): void;
}

/** What a gossiper uses to send on its channel. */
export interface GossipChannelSender {
  gossipUnicast(destination: PeerName, message: Buffer): void;
  gossipBroadcast(update: GossipData): void;
  /** Send this data to some neighbours now (coalesced). */
  gossipNeighbourSubset(update: GossipData): void;
}
