// Ourselves in the peer table: the only peer whose connections are live objects we hold.

import type { LocalIdentity, MeshConnection, PeerName } from './contract.ts';
import { Peer } from './peer.ts';

/** Refusal of a connection by the peer table; `quiet` ones are an expected outcome (a duplicate
 *  lost its tie-break) and are logged at debug level only. */
export class ConnectionRefusedError extends Error {
  constructor(
    message: string,
    readonly kind: 'duplicate' | 'limit',
  ) {
    super(message);
    this.name = 'ConnectionRefusedError';
  }
}

export interface AddConnectionResult {
  /** An older connection to the same peer that lost the tie-break: the caller closes it. */
  displaced?: MeshConnection;
  /** Set when `conn` itself was not registered: the caller closes it with this error. */
  refused?: ConnectionRefusedError;
}

export class LocalPeer extends Peer {
  private readonly live = new Map<PeerName, MeshConnection>();

  constructor(identity: LocalIdentity) {
    super(identity.name, identity.nickname, identity.uid, 1, identity.shortId, true);
  }

  connectionTo(name: PeerName): MeshConnection | undefined {
    return this.live.get(name);
  }

  liveConnections(): MeshConnection[] {
    return [...this.live.values()];
  }

  /** Register a handshaken connection. Duplicates are settled the same way on both ends without
   *  talking: the lower connUid (identical at both ends) survives; equal UIDs drop both.
   *  Bumps our version on success. */
  addConnection(conn: MeshConnection, connLimit: number): AddConnectionResult {
    const name = conn.remote.name;
    const result: AddConnectionResult = {};
    const existing = this.live.get(name);
    if (existing) {
      if (conn.connUid > existing.connUid) {
        result.refused = new ConnectionRefusedError(`already connected to ${name} (connection ${existing.connUid} wins the tie-break)`, 'duplicate');
        return result;
      }
      this.deleteConnection(existing);
      result.displaced = existing;
      if (conn.connUid === existing.connUid) {
        result.refused = new ConnectionRefusedError(`two connections to ${name} with the same UID ${conn.connUid}; dropping both`, 'duplicate');
        return result;
      }
    }
    if (connLimit > 0 && this.live.size >= connLimit) {
      result.refused = new ConnectionRefusedError(`Connection limit reached (${connLimit})`, 'limit');
      return result;
    }
    this.live.set(name, conn);
    this.connections.set(name, { remote: name, remoteTcpAddr: conn.remoteAddr, outbound: conn.outbound, established: false });
    this.version++;
    return result;
  }

  /** Returns false when `conn` is not the registered connection (a displaced or refused one). */
  deleteConnection(conn: MeshConnection): boolean {
    const name = conn.remote.name;
    if (this.live.get(name) !== conn) return false;
    this.live.delete(name);
    this.connections.delete(name);
    this.version++;
    return true;
  }

  /** Returns true when this changed anything. */
  markEstablished(conn: MeshConnection): boolean {
    const name = conn.remote.name;
    const entry = this.connections.get(name);
    if (this.live.get(name) !== conn || !entry || entry.established) return false;
    entry.established = true;
    this.version++;
    return true;
  }

  isEstablished(conn: MeshConnection): boolean {
    const name = conn.remote.name;
    return this.live.get(name) === conn && this.connections.get(name)?.established === true;
  }

  /** Gossip about an old incarnation of us carried `version`: get above it so ours wins. */
  setVersionBeyond(version: number): boolean {
    if (version >= this.version) {
      this.version = version + 1;
      return true;
    }
    return false;
  }

  setShortId(shortId: number): void {
    this.shortId = shortId;
    this.hasShortId = true;
    this.version++;
  }
}
