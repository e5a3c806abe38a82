// One peer as known from topology gossip: its identity, version and connection list.

import type { PeerName, PeerSummary } from './contract.ts';
import type { PeerInfo } from './route-table.ts';

/** A connection as some peer reported it (or, for us, as we hold it). */
export interface PeerConnection {
  remote: PeerName;
  remoteTcpAddr: string;
  outbound: boolean;
  established: boolean;
}

export class Peer {
  connections = new Map<PeerName, PeerConnection>();
  /** Local users (our connections to it, attempts in flight): a referenced peer is never GC'd. */
  localRefCount = 0;

  constructor(
    readonly name: PeerName,
    public nickname: string,
    public uid: bigint,
    public version: number,
    public shortId: number,
    public hasShortId: boolean,
  ) {}

  /** A peer seen only as the far end of someone's connection: no UID, no version, no short ID. */
  static placeholder(name: PeerName): Peer {
    return new Peer(name, '', 0n, 0, 0, false);
  }

  static fromSummary(s: PeerSummary): Peer {
    return new Peer(s.name, s.nickname, s.uid, s.version, s.shortId, s.hasShortId);
  }

  summary(): PeerSummary {
    return {
      name: this.name,
      nickname: this.nickname,
      uid: this.uid,
      version: this.version,
      shortId: this.shortId,
      hasShortId: this.hasShortId,
      connections: [...this.connections.values()]
        .sort((a, b) => (a.remote < b.remote ? -1 : a.remote > b.remote ? 1 : 0))
        .map((c) => ({ name: c.remote, remoteTcpAddr: c.remoteTcpAddr, outbound: c.outbound, established: c.established })),
    };
  }

  info(): PeerInfo {
    return {
      name: this.name,
      nickname: this.nickname,
      uid: this.uid,
      version: this.version,
      shortId: this.shortId,
      hasShortId: this.hasShortId,
    };
  }
}

export function comparePeerNames(a: PeerName, b: PeerName): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
