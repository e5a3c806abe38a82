// An in-memory FastPath for unit tests of the overlay side: records what the overlay asks of
// the kernel. The real backends are tested against the kernel by test/kernel/fastpath-*.
import type { FastPath, FastPathStats } from '../../../../datapath/fastpath/contract.ts';

export class FakeFastPath implements FastPath {
  readonly backend = 'fake';
  readonly mtu = 1376;
  readonly udpPort = 6784;
  readonly stats: FastPathStats = { heartbeatsSent: 0, heartbeatsReceived: 0, heartbeatsDropped: 0 };
  readonly peers = new Map<string, string>();
  readonly forwardingTo = new Set<string>();
  readonly sent: { peer: string; payload: Buffer; size: number }[] = [];
  readonly log: string[] = [];
  listener: ((payload: Buffer, size: number) => void) | undefined;

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async addPeer(peer: string, ip: string): Promise<void> {
    this.peers.set(peer, ip);
    this.log.push(`add ${peer} ${ip}`);
  }
  async removePeer(peer: string): Promise<void> {
    this.peers.delete(peer);
    this.forwardingTo.delete(peer);
    this.log.push(`remove ${peer}`);
  }
  /** When set, setForwarding waits for it (a slow kernel). */
  gate: Promise<void> | undefined;
  async setForwarding(peer: string, on: boolean): Promise<void> {
    if (this.gate) await this.gate;
    if (on) this.forwardingTo.add(peer);
    else this.forwardingTo.delete(peer);
    this.log.push(`forward ${peer} ${on}`);
  }
  forwarding(peer: string): boolean {
    return this.forwardingTo.has(peer);
  }
  sendHeartbeat(peer: string, payload: Buffer, size: number): boolean {
    if (!this.peers.has(peer)) return false;
    this.sent.push({ peer, payload: Buffer.from(payload), size });
    return true;
  }
  onHeartbeat(listener: (payload: Buffer, size: number) => void): void {
    this.listener = listener;
  }
  /** A heartbeat "arrives" from the kernel. */
  deliver(payload: Buffer, size: number): void {
    const frame = Buffer.alloc(size - 14);
    payload.copy(frame);
    this.listener?.(frame, size);
  }
}
