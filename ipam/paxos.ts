// Gossip-based Paxos, as Weave uses it to agree on the set of peers that seeds the ring: each node
// gossips everything it knows about every node's promise and acceptance, and "thinks" after each
// update. Node ids carry the process UID so a restarted node cannot reuse old promises.

import type { PeerName } from '../common/peer-identity.ts';

export interface NodeId {
  name: PeerName;
  uid: bigint;
}

export interface ProposalId {
  /** 0 = none; real rounds start at 1. */
  round: number;
  proposer: NodeId;
}

export interface AcceptedValue {
  value: PeerName[];
  origin: ProposalId;
}

export interface NodeClaims {
  promise: ProposalId;
  accepted: ProposalId;
  acceptedVal: AcceptedValue;
}

/** Everything a node knows, keyed by `nodeKey`. */
export type PaxosState = Map<string, { id: NodeId; claims: NodeClaims }>;

export const NO_NODE: NodeId = { name: '00:00:00:00:00:00', uid: 0n };
export const NO_PROPOSAL: ProposalId = { round: 0, proposer: NO_NODE };

export function nodeKey(id: NodeId): string {
  return `${id.name}/${id.uid}`;
}

function precedes(a: ProposalId, b: ProposalId): boolean {
  if (a.round !== b.round) return a.round < b.round;
  if (a.proposer.name !== b.proposer.name) return a.proposer.name < b.proposer.name;
  return a.proposer.uid < b.proposer.uid;
}

function sameProposal(a: ProposalId, b: ProposalId): boolean {
  return !precedes(a, b) && !precedes(b, a);
}

function emptyClaims(): NodeClaims {
  return { promise: NO_PROPOSAL, accepted: NO_PROPOSAL, acceptedVal: { value: [], origin: NO_PROPOSAL } };
}

function sameClaims(a: NodeClaims, b: NodeClaims): boolean {
  return sameProposal(a.promise, b.promise) && sameProposal(a.accepted, b.accepted) && sameProposal(a.acceptedVal.origin, b.acceptedVal.origin);
}

export class PaxosNode {
  private readonly knows: PaxosState = new Map();

  constructor(
    readonly id: NodeId,
    public quorum: number,
  ) {}

  state(): PaxosState {
    return this.knows;
  }

  knownNodes(): NodeId[] {
    return [...this.knows.values()].map((k) => k.id);
  }

  /** Merge what another node told us; true when we learned something. */
  update(from: PaxosState): boolean {
    let changed = false;
    for (const [key, incoming] of from) {
      const have = this.knows.get(key);
      if (!have) {
        this.knows.set(key, { id: incoming.id, claims: cloneClaims(incoming.claims) });
        changed = true;
        continue;
      }
      if (precedes(have.claims.promise, incoming.claims.promise)) {
        have.claims.promise = incoming.claims.promise;
        changed = true;
      }
      if (precedes(have.claims.accepted, incoming.claims.accepted)) {
        have.claims.accepted = incoming.claims.accepted;
        have.claims.acceptedVal = { value: [...incoming.claims.acceptedVal.value], origin: incoming.claims.acceptedVal.origin };
        changed = true;
      }
    }
    return changed;
  }

  /** Prepare: promise ourselves a round above every round seen. */
  propose(): void {
    let round = 0;
    for (const { claims } of this.knows.values()) round = Math.max(round, claims.promise.round, claims.accepted.round);
    const ours = this.ours();
    ours.promise = { round: round + 1, proposer: this.id };
    this.knows.set(nodeKey(this.id), { id: this.id, claims: ours });
    if (this.quorum <= 1) this.think();
  }

  /** One step of the algorithm on what we know; true when our own claims changed. */
  think(): boolean {
    const before = this.ours();
    const ours = cloneClaims(before);
    for (const { claims } of this.knows.values()) if (precedes(ours.promise, claims.promise)) ours.promise = claims.promise;

    // only a proposal we still promise is worth pushing: anyone who hears our promise would
    // refuse an older proposal of ours anyway
    if (sameNode(ours.promise.proposer, this.id)) {
      let count = 0;
      let accepted = NO_PROPOSAL;
      let acceptedVal: AcceptedValue = { value: [], origin: NO_PROPOSAL };
      for (const { claims } of this.knows.values()) {
        if (!sameProposal(claims.promise, ours.promise)) continue;
        count++;
        if (precedes(accepted, claims.accepted)) {
          accepted = claims.accepted;
          acceptedVal = claims.acceptedVal;
        }
      }
      if (count >= this.quorum) {
        if (accepted.round === 0) acceptedVal = { value: this.knownNodes().map((n) => n.name), origin: ours.promise };
        ours.accepted = ours.promise;
        ours.acceptedVal = { value: [...acceptedVal.value], origin: acceptedVal.origin };
      }
    }
    for (const { claims } of this.knows.values()) {
      if (sameProposal(claims.accepted, ours.promise)) {
        ours.accepted = claims.accepted;
        ours.acceptedVal = { value: [...claims.acceptedVal.value], origin: claims.acceptedVal.origin };
        break;
      }
    }
    if (sameClaims(ours, before) && this.knows.has(nodeKey(this.id))) return false;
    this.knows.set(nodeKey(this.id), { id: this.id, claims: ours });
    return true;
  }

  /** The agreed value once a quorum accepted proposals of the same origin. */
  consensus(): PeerName[] | undefined {
    const counts = new Map<string, number>();
    for (const { claims } of this.knows.values()) {
      if (claims.accepted.round === 0) continue;
      const o = claims.acceptedVal.origin;
      const key = `${o.round}/${nodeKey(o.proposer)}`;
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      if (n >= this.quorum) return [...new Set(claims.acceptedVal.value)].sort();
    }
    return undefined;
  }

  private ours(): NodeClaims {
    return cloneClaims(this.knows.get(nodeKey(this.id))?.claims ?? emptyClaims());
  }
}

function sameNode(a: NodeId, b: NodeId): boolean {
  return a.name === b.name && a.uid === b.uid;
}

function cloneClaims(c: NodeClaims): NodeClaims {
  return { promise: c.promise, accepted: c.accepted, acceptedVal: { value: [...c.acceptedVal.value], origin: c.acceptedVal.origin } };
}
