// What the distributed IPAM needs from the mesh router, kept narrow so tests can run many IPAM
// peers over a simulated network and the daemon can adapt the real MeshRouter.

import type { PeerName } from '../common/peer-identity.ts';
import type { GossipChannelSender, Gossiper } from '../router/mesh/contract.ts';

export interface IpamMesh {
  readonly ourName: PeerName;
  /** Per-process random id: Paxos node ids include it so a restart cannot reuse old promises. */
  readonly ourUid: bigint;
  readonly ourNickname: string;
  newGossip(channel: string, gossiper: Gossiper): GossipChannelSender;
  /** Peers the topology currently knows (ourselves included). */
  knownPeers(): { name: PeerName; nickname: string }[];
  /** Whether messages can reach this peer now. */
  reachable(name: PeerName): boolean;
}

/** `--ipalloc-init`: how the ring is first created. */
export type IpallocInit =
  /** Agree by Paxos among `count` peers (quorum count/2+1) when the ring is first needed. */
  | { mode: 'consensus'; count: number }
  /** Create the ring at once, split among exactly these peers (same list on every peer). */
  | { mode: 'seed'; peers: PeerName[] }
  /** Never take part in creating the ring; wait for one from others. */
  | { mode: 'observer' };

/** Default consensus size: the peers named at launch plus ourselves. A peer list that names this
 *  host too (one list copied to every host, Weave #2004) must not count it twice, or the quorum
 *  grows beyond what the hosts can reach. */
export function consensusCount(peers: string[], ownAddresses: Iterable<string>): number {
  const own = new Set(ownAddresses);
  const hostOf = (p: string): string => (p.startsWith('[') ? p.slice(1, p.indexOf(']')) : p.replace(/:\d+$/, ''));
  const others = new Set(peers.map(hostOf).filter((h) => !own.has(h)));
  return others.size + 1;
}

export function parseIpallocInit(text: string, defaultCount: number): IpallocInit {
  if (text === 'observer') return { mode: 'observer' };
  if (text === 'consensus') return { mode: 'consensus', count: defaultCount };
  const consensus = /^consensus=(\d+)$/.exec(text);
  if (consensus) {
    const count = Number(consensus[1]);
    if (count < 1) throw new Error('--ipalloc-init consensus=N needs N >= 1');
    return { mode: 'consensus', count };
  }
  if (text.startsWith('seed=')) {
    const peers = text
      .slice(5)
      .split(',')
      .map((p) => p.trim().toLowerCase())
      .filter((p) => p.length > 0);
    if (peers.length === 0) throw new Error('--ipalloc-init seed= needs at least one peer name');
    for (const p of peers) if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(p)) throw new Error(`--ipalloc-init seed: "${p}" is not a peer name (aa:bb:cc:dd:ee:ff)`);
    return { mode: 'seed', peers };
  }
  throw new Error(`--ipalloc-init must be consensus[=N], seed=NAME[,NAME...] or observer, not "${text}"`);
}
