// In-memory MeshConnection pairs: what the wire layer's dialMesh/acceptMesh return, minus TCP,
// so router logic can be tested without sockets. Delivery is asynchronous like a socket's.

import { EventEmitter } from 'node:events';
import type { LocalIdentity, MeshConnection, MeshConnectionEvents, RemoteIdentity } from '../../../../router/mesh/contract.ts';

export class MemoryConnection extends EventEmitter implements MeshConnection {
  peerEnd?: MemoryConnection;
  closed = false;
  closeReason?: Error;
  readonly sent: { tag: number; payload: Buffer }[] = [];
  readonly version = 2;

  constructor(
    readonly local: LocalIdentity,
    readonly remote: RemoteIdentity,
    readonly outbound: boolean,
    readonly remoteAddr: string,
    readonly localAddr: string,
    readonly connUid: bigint,
  ) {
    super();
  }

  send(tag: number, payload: Uint8Array): void {
    if (this.closed) throw new Error('connection closed');
    const copy = Buffer.from(payload);
    this.sent.push({ tag, payload: copy });
    const other = this.peerEnd;
    setImmediate(() => {
      if (other && !other.closed) other.emit('message', tag, copy);
    });
  }

  close(reason?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    setImmediate(() => this.emit('close', reason));
    this.peerEnd?.close(new Error('remote closed the connection'));
  }

  override on<E extends keyof MeshConnectionEvents>(event: E, listener: MeshConnectionEvents[E]): this {
    return super.on(event, listener);
  }

  override off<E extends keyof MeshConnectionEvents>(event: E, listener: MeshConnectionEvents[E]): this {
    return super.off(event, listener);
  }
}

export function remoteIdentityOf(id: LocalIdentity, connId = 0n): RemoteIdentity {
  return { name: id.name, nickname: id.nickname, uid: id.uid, shortId: id.shortId, connId, features: {} };
}

let nextUid = 1000n;

/** [dialler's end, acceptor's end]. */
export function memoryConnectionPair(
  dialler: LocalIdentity,
  acceptor: LocalIdentity,
  opts: { connUid?: bigint; diallerAddr?: string; acceptorAddr?: string } = {},
): [MemoryConnection, MemoryConnection] {
  const connUid = opts.connUid ?? nextUid++;
  const dAddr = opts.diallerAddr ?? '10.0.0.1:40000';
  const aAddr = opts.acceptorAddr ?? '10.0.0.2:6783';
  const out = new MemoryConnection(dialler, remoteIdentityOf(acceptor), true, aAddr, dAddr, connUid);
  const inb = new MemoryConnection(acceptor, remoteIdentityOf(dialler), false, dAddr, aAddr, connUid);
  out.peerEnd = inb;
  inb.peerEnd = out;
  return [out, inb];
}
