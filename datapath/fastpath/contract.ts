// The kernel fast data path as the overlay switch sees it. Two backends implement it: Linux
// vxlan devices on a bridge (vxlan-device-fastpath.ts, any kernel with vxlan) and Open vSwitch's
// kernel datapath (ODP, Weave-compatible). The compliance suite in
// test/kernel/fastpath-compliance.ts checks any implementation against this file.
//
// Model: the host has a bridge that containers are attached to. The fast path carries
// container frames between that bridge and the bridges of peers it is told to forward to, in
// the kernel, as VXLAN over UDP `udpPort`. It also carries heartbeat frames to every added peer
// — forwarding or not — over the same kernel path with DF set, so that a heartbeat arrives
// exactly when a full-size data frame would.
import type { Logger } from 'winston';
import type { PeerName, ShortId } from '../../common/peer-identity.ts';
import type { FastdpIpsec } from '../ipsec/contract.ts';

/** Ethernet header bytes in front of every heartbeat payload. */
export const HEARTBEAT_HEADER = 14;

/** Thrown by start() when the kernel cannot provide this fast path (the reason is shown to
 *  users as the connection's reason for using sleeve). */
export class FastPathUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FastPathUnavailableError';
  }
}

/** What every backend is built from (each adds its own options). */
export interface FastPathOptions {
  ourName: PeerName;
  logger: Logger;
  /** Bridge the containers are on. */
  bridge: string;
  mtu: number;
  /** Network namespace to work in (path); default our own. */
  netns?: string;
  /** UDP port (default 6784). */
  port?: number;
  /** Bridge ports never to exchange frames with the fast path's port (the sleeve capture TAP). */
  isolatePorts?: string[];
}

export interface FastPathStats {
  heartbeatsSent: number;
  heartbeatsReceived: number;
  /** Heartbeats the kernel refused to take (queue full, device gone). */
  heartbeatsDropped: number;
}

export interface FastPath {
  /** Backend name shown in status, e.g. 'vxlan-device' or 'odp'. */
  readonly backend: string;
  /** Overlay MTU: the largest IP packet a container frame may carry. */
  readonly mtu: number;
  /** Underlay UDP port of the VXLAN traffic (6784). */
  readonly udpPort: number;
  readonly stats: FastPathStats;

  /** Creates the kernel objects (replacing stale ones a crash left). Throws
   *  FastPathUnavailableError when the kernel lacks support. */
  start(): Promise<void>;
  /** Removes every kernel object start() and the peers created. Containers on the bridge stay. */
  stop(): Promise<void>;

  /** Makes heartbeats to and from `peer` at underlay address `ip` possible. Does not forward
   *  container frames yet. Adding a known peer again updates its address. */
  addPeer(peer: PeerName, ip: string): Promise<void>;
  /** Forgets the peer (stops forwarding to it first). */
  removePeer(peer: PeerName): Promise<void>;
  /** Forward container frames to `peer` (flooded and unicast) in the kernel, or stop doing so
   *  and forget which container MACs sit behind it, so that no frame reaches it this way. */
  setForwarding(peer: PeerName, on: boolean): Promise<void>;
  forwarding(peer: PeerName): boolean;

  /** Sends `payload` to `peer` as a heartbeat frame of exactly `frameSize` bytes (Ethernet
   *  header included, zero padded; frameSize ≤ HEARTBEAT_HEADER + mtu) over the kernel path,
   *  DF set. Returns false if it could not be queued. */
  sendHeartbeat(peer: PeerName, payload: Buffer, frameSize: number): boolean;
  /** Called for each heartbeat frame that arrived from any peer: the payload (padding
   *  included) and the frame's size. One listener. */
  onHeartbeat(listener: (payload: Buffer, frameSize: number) => void): void;
  /** The mesh reassigned short peer ids. Backends that put them on the wire (ODP's VNIs) re-derive
   *  them; the others need not implement it. */
  shortIdsChanged?(): Promise<void>;
}

/** What only the running router knows, and a backend may need when it starts. */
export interface FastPathContext {
  /** Our peer name (the router's identity, loaded or derived when it starts). */
  ourName: PeerName;
  /** The mesh's short id of a peer (ours included); undefined while the mesh does not know it. */
  shortId(peer: PeerName): ShortId | undefined;
  /** Bridge ports never to exchange frames with the fast path's port (the sleeve capture). */
  isolatePorts: string[];
}

/** Starts the fast path the daemon chose (trying its backends in order). Rejects with
 *  FastPathUnavailableError saying why none could start; the router then uses sleeve only. */
export type FastPathStarter = (ctx: FastPathContext) => Promise<FastPath>;

/** The daemon's decision: a starter, or why there is no fast path (`--no-fastdp`). With a
 *  password, `ipsec` makes the encryption every connection's fast path then needs; the router
 *  starts it first, and its failure (e.g. no ESP in the kernel) is the reason for sleeve. */
export type FastPathChoice = { start: FastPathStarter; ipsec?: () => FastdpIpsec } | { disabled: string };
