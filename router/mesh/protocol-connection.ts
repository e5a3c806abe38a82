// An established TCP control connection (Weave's LocalConnection minus the router's part):
// tagged messages in length-prefixed frames, sealed when the connection is encrypted, a TCP
// heartbeat out and a read deadline in.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Logger } from '../../common/logger.ts';
import type { LocalIdentity, MeshConnection, MeshConnectionEvents, RemoteIdentity } from './contract.ts';
import { ProtocolTag } from './contract.ts';
import { encodeFrame, FrameReader, MAX_TCP_MSG_SIZE } from './framing.ts';
import type { TcpCryptoState } from './session-crypto.ts';

export const TCP_HEARTBEAT_MS = 30_000;
export const TCP_READ_TIMEOUT_MS = 2 * TCP_HEARTBEAT_MS;
/** Node buffers writes without limit; a peer that stops reading must not take our memory with it. */
export const MAX_QUEUED_BYTES = 8 * MAX_TCP_MSG_SIZE;

export interface ProtocolConnectionParams {
  socket: Socket;
  /** Bytes already read past the handshake. */
  leftover?: Buffer;
  local: LocalIdentity;
  remote: RemoteIdentity;
  outbound: boolean;
  version: number;
  connUid: bigint;
  sessionKey?: Buffer;
  /** Present together when the connection is encrypted. */
  sender?: TcpCryptoState;
  receiver?: TcpCryptoState;
  heartbeatIntervalMs?: number;
  heartbeatTimeoutMs?: number;
  maxQueuedBytes?: number;
  logger: Logger;
}

export function formatAddress(address: string | undefined, port: number | undefined): string {
  if (address === undefined || port === undefined) return '';
  // a dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; peers, discovery and sleeve
  // need the plain IPv4 form (and Weave shows it that way)
  if (address.startsWith('::ffff:') && address.includes('.')) address = address.slice(7);
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export class ProtocolConnection implements MeshConnection {
  readonly local: LocalIdentity;
  readonly remote: RemoteIdentity;
  readonly outbound: boolean;
  readonly remoteAddr: string;
  readonly localAddr: string;
  readonly connUid: bigint;
  readonly version: number;
  readonly sessionKey?: Uint8Array;

  private readonly socket: Socket;
  private readonly events = new EventEmitter();
  private readonly frames = new FrameReader();
  private readonly sender?: TcpCryptoState;
  private readonly receiver?: TcpCryptoState;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly readDeadline: NodeJS.Timeout;
  private readonly maxQueued: number;
  private readonly log: Logger;
  private closed = false;
  /** Messages that arrived before anyone listened (e.g. sent right behind the features). */
  private held: [number, Buffer][] = [];
  private heldBytes = 0;

  constructor(p: ProtocolConnectionParams) {
    if (!p.sender !== !p.receiver) throw new Error('an encrypted connection needs both a sender and a receiver state');
    this.socket = p.socket;
    this.local = p.local;
    this.remote = p.remote;
    this.outbound = p.outbound;
    this.version = p.version;
    this.connUid = p.connUid;
    if (p.sessionKey) this.sessionKey = p.sessionKey;
    this.sender = p.sender;
    this.receiver = p.receiver;
    this.remoteAddr = formatAddress(p.socket.remoteAddress, p.socket.remotePort);
    this.localAddr = formatAddress(p.socket.localAddress, p.socket.localPort);
    this.maxQueued = p.maxQueuedBytes ?? MAX_QUEUED_BYTES;
    this.log = p.logger.child({ remote: this.remote.name, remoteAddr: this.remoteAddr, outbound: this.outbound });

    const timeoutMs = p.heartbeatTimeoutMs ?? TCP_READ_TIMEOUT_MS;
    this.heartbeat = setInterval(() => this.send(ProtocolTag.Heartbeat, Buffer.alloc(0)), p.heartbeatIntervalMs ?? TCP_HEARTBEAT_MS);
    this.readDeadline = setTimeout(() => this.close(new Error(`no message received for ${timeoutMs} ms`)), timeoutMs);

    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
    this.socket.on('end', () => this.close(new Error('connection closed by remote')));
    this.socket.on('close', () => this.close(new Error('connection closed')));
    this.socket.on('error', (err: Error) => this.close(err));
    if (p.leftover && p.leftover.length > 0) this.receive(p.leftover);
    // The remote may have gone while the handshake still owned the socket.
    if (p.socket.destroyed || p.socket.readableEnded) this.close(new Error('connection closed by remote'));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(tag: number, payload: Uint8Array): void {
    if (this.closed) {
      this.log.debug('dropping message on a closed connection', { tag });
      return;
    }
    if (!Number.isInteger(tag) || tag < 0 || tag > 255) throw new RangeError(`bad protocol tag ${tag}`);
    const plain = Buffer.allocUnsafe(1 + payload.length);
    plain[0] = tag;
    plain.set(payload, 1);
    let frame: Buffer;
    try {
      frame = encodeFrame(this.sender ? this.sender.seal(plain) : plain);
    } catch (err) {
      // Weave shuts the connection down when a send fails; the router sees it as a close.
      this.close(err as Error);
      return;
    }
    if (this.socket.writableLength + frame.length > this.maxQueued) {
      this.close(new Error(`send queue over ${this.maxQueued} bytes: the remote is not reading`));
      return;
    }
    // One write per frame: the socket's queue keeps frames whole and in order.
    this.socket.write(frame);
  }

  close(reason?: Error): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.readDeadline);
    this.socket.destroy();
    if (reason) this.log.info('connection closed', { reason: reason.message });
    else this.log.debug('connection closed locally');
    // Deferred so a close triggered inside send() or a message handler does not re-enter the caller.
    process.nextTick(() => this.events.emit('close', reason));
  }

  on<E extends keyof MeshConnectionEvents>(event: E, listener: MeshConnectionEvents[E]): this {
    this.events.on(event, listener);
    if (event === 'message' && this.held.length > 0) process.nextTick(() => this.releaseHeld());
    return this;
  }

  off<E extends keyof MeshConnectionEvents>(event: E, listener: MeshConnectionEvents[E]): this {
    this.events.off(event, listener);
    return this;
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.frames.push(chunk);
    try {
      for (let body = this.frames.next(); body && !this.closed; body = this.frames.next()) {
        const plain = this.receiver ? this.receiver.open(body) : body;
        if (!plain) throw new Error('unable to decrypt TCP message');
        this.readDeadline.refresh();
        if (plain.length === 0) continue; // Weave ignores blank messages
        const tag = plain[0]!;
        if (tag === ProtocolTag.Heartbeat) continue;
        this.deliver(tag, plain.subarray(1));
      }
    } catch (err) {
      this.close(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private deliver(tag: number, payload: Buffer): void {
    if (this.events.listenerCount('message') === 0 || this.held.length > 0) {
      this.heldBytes += payload.length;
      if (this.heldBytes > this.maxQueued) throw new Error(`over ${this.maxQueued} bytes of messages arrived with no listener`);
      this.held.push([tag, payload]);
      return;
    }
    // A handler that throws tears the connection down, as a failing gossip handler does in Weave.
    this.events.emit('message', tag, payload);
  }

  private releaseHeld(): void {
    try {
      while (!this.closed && this.held.length > 0 && this.events.listenerCount('message') > 0) {
        const [tag, payload] = this.held.shift()!;
        this.heldBytes -= payload.length;
        this.events.emit('message', tag, payload);
      }
    } catch (err) {
      this.close(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
