// Several MeshRouters wired through in-memory connections: "ip:6783" addresses map to routers,
// dialling makes a MemoryConnection pair and hands the far end to that router.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../../common/logger.ts';
import type { Gossiper, LocalIdentity } from '../../../../router/mesh/contract.ts';
import { MeshRouter } from '../../../../router/mesh/router.ts';
import type { MeshRouterOptions, MeshTimings } from '../../../../router/mesh/router.ts';
import { memoryConnectionPair } from './memory-connection.ts';
import { jsonCodecs } from './test-codecs.ts';

export const fastTimings: MeshTimings = {
  gossipIntervalMs: 2000,
  gossipCoalesceMs: 20,
  gcDelayMs: 50,
  recalcDelayMs: 5,
  discoveryDeferMs: 1500,
};

export interface NetNode {
  router: MeshRouter;
  ip: string;
  address: string;
  identity: LocalIdentity;
  dials: string[];
  /** Accepting dials (a stopped router refuses them like a closed port). */
  running?: boolean;
}

export class MemoryNetwork {
  readonly nodes = new Map<string, NetNode>();
  private readonly dirs: string[] = [];
  private ephemeral = 40000;

  async add(name: string, nickname: string, ip: string, opts: Partial<MeshRouterOptions> = {}): Promise<NetNode> {
    const identity: LocalIdentity = opts.identity ?? { name, nickname, uid: BigInt(parseInt(name.replaceAll(':', ''), 16)) * 1000n + 7n, shortId: this.nodes.size + 1 };
    const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'mesh-router-')));
    this.dirs.push(dataDir);
    const address = `${ip}:6783`;
    const node: NetNode = { ip, address, identity, dials: [], router: undefined as unknown as MeshRouter };
    node.router = new MeshRouter({
      identity,
      dataDir,
      listen: false,
      logger: silentLogger(),
      codecs: jsonCodecs,
      timings: fastTimings,
      dial: async (target, hs) => {
        node.dials.push(target);
        const remote = [...this.nodes.values()].find((n) => n.address === target && n.running);
        if (!remote) throw new Error(`dial tcp ${target}: connect: connection refused`);
        const [ours, theirs] = memoryConnectionPair(hs.local, remote.identity, { diallerAddr: `${ip}:${this.ephemeral++}`, acceptorAddr: target });
        setImmediate(() => remote.router.acceptConnection(theirs));
        return ours;
      },
      accept: () => Promise.reject(new Error('no sockets in a memory network')),
      ...opts,
    });
    this.nodes.set(nickname, node);
    return node;
  }

  async cleanup(): Promise<void> {
    for (const n of this.nodes.values()) await n.router.stop();
    for (const d of this.dirs) await rm(d, { recursive: true, force: true });
  }
}

export async function startNode(n: NetNode): Promise<void> {
  n.running = true;
  await n.router.start();
}

export async function stopNode(n: NetNode): Promise<void> {
  n.running = false;
  await n.router.stop();
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A gossiper that records what it gets; its state is a set of strings. */
export class RecordingGossiper implements Gossiper {
  readonly state = new Set<string>();
  readonly unicasts: { source: string; message: string }[] = [];
  readonly broadcasts: { source: string; update: string }[] = [];
  failWith?: string;

  gossip() {
    return this.state.size > 0 ? setData([...this.state]) : undefined;
  }

  onGossip(update: Buffer) {
    if (this.failWith) throw new Error(this.failWith);
    const fresh = (JSON.parse(update.toString()) as string[]).filter((x) => !this.state.has(x));
    for (const x of fresh) this.state.add(x);
    return fresh.length > 0 ? setData(fresh) : undefined;
  }

  onGossipBroadcast(source: string, update: Buffer) {
    this.broadcasts.push({ source, update: update.toString() });
    return this.onGossip(update);
  }

  onGossipUnicast(source: string, message: Buffer): void {
    this.unicasts.push({ source, message: message.toString() });
  }
}

export function setData(items: string[]) {
  return {
    items,
    encode: () => [Buffer.from(JSON.stringify(items))],
    merge(other: { encode(): Buffer[] }) {
      const more = JSON.parse(other.encode()[0]!.toString()) as string[];
      return setData([...new Set([...items, ...more])]);
    },
  };
}
