// The IPallocation channel's wire format, as Weave's Go types encode with gob. Field names and
// kinds match Weave's structs exactly (gob matches fields by name), so Weave peers read ours.
//   broadcast / periodic gossip: gob(gossipState{Now, Nicknames, Paxos, Ring})
//   unicast: one type byte, then gob(Range) for space requests/denials or gob(gossipState)

import { gob, gobDecode, gobEncode, type GobValue } from '../router/gob/index.ts';
import type { PeerName } from '../common/peer-identity.ts';
import { peerNameFromBigInt, peerNameToBigInt } from '../router/mesh/peer-name.ts';
import type { AddressRange } from './address-range.ts';
import { NO_PROPOSAL, nodeKey, type NodeId, type PaxosState, type ProposalId } from './paxos.ts';
import type { RingData } from './ring.ts';

export const IPAM_CHANNEL = 'IPallocation';

export const UnicastType = { SpaceRequest: 0, RingUpdate: 1, SpaceRequestDenied: 2 } as const;

// Go puts no name on the wire for these (they only appear inside a named map or slice)
const nodeIdType = gob.struct('', { Name: gob.uint64, UID: gob.uint64 });
const proposalIdType = gob.struct('ProposalID', { Round: gob.uint, Proposer: nodeIdType });
const acceptedValueType = gob.struct('AcceptedValue', { Value: gob.slice(gob.uint64, 'Value'), Origin: proposalIdType });
const nodeClaimsType = gob.struct('', { Promise: proposalIdType, Accepted: proposalIdType, AcceptedVal: acceptedValueType });
const paxosStateType = gob.map(nodeIdType, nodeClaimsType, 'GossipState');
const entryType = gob.struct('', { Token: gob.uint, Peer: gob.uint64, Version: gob.uint, Free: gob.uint });
const ringType = gob.struct('Ring', {
  Start: gob.uint,
  End: gob.uint,
  Peer: gob.uint64,
  Entries: gob.slice(entryType, 'entries'),
  Seeds: gob.slice(gob.uint64, '[]mesh.PeerName'),
});
export const gossipStateType = gob.struct('gossipState', {
  Now: gob.int64,
  Nicknames: gob.map(gob.uint64, gob.string, 'map[mesh.PeerName]string'),
  Paxos: paxosStateType,
  Ring: ringType,
});
export const rangeType = gob.struct('Range', { Start: gob.uint, End: gob.uint });

export interface IpamGossip {
  /** Sender's clock, unix seconds (Weave refuses updates from clocks more than an hour off). */
  now: number;
  nicknames: Map<PeerName, string>;
  paxos?: PaxosState;
  /** With the name of the peer that sent it. */
  ring?: RingData & { peer: PeerName };
}

type NodeIdWire = GobValue<typeof nodeIdType>;
type ProposalWire = GobValue<typeof proposalIdType>;

const toNodeWire = (n: NodeId): NodeIdWire => ({ Name: peerNameToBigInt(n.name), UID: n.uid });
const fromNodeWire = (n: NodeIdWire): NodeId => ({ name: peerNameFromBigInt(n.Name), uid: n.UID });
const toProposalWire = (p: ProposalId): ProposalWire => ({ Round: p.round, Proposer: toNodeWire(p.proposer) });
const fromProposalWire = (p: ProposalWire): ProposalId =>
  p.Round === 0 && p.Proposer.Name === 0n && p.Proposer.UID === 0n ? NO_PROPOSAL : { round: p.Round, proposer: fromNodeWire(p.Proposer) };

export function encodeIpamGossip(g: IpamGossip): Buffer {
  const value: Record<string, unknown> = {
    Now: BigInt(g.now),
    Nicknames: new Map([...g.nicknames].map(([k, v]) => [peerNameToBigInt(k), v])),
    // a nil *Ring: Weave would take a zero Ring for a ring with another range
    Ring: null,
  };
  if (g.paxos && g.paxos.size > 0) {
    value['Paxos'] = new Map(
      [...g.paxos.values()].map(({ id, claims }) => [
        toNodeWire(id),
        {
          Promise: toProposalWire(claims.promise),
          Accepted: toProposalWire(claims.accepted),
          AcceptedVal: { Value: claims.acceptedVal.value.map(peerNameToBigInt), Origin: toProposalWire(claims.acceptedVal.origin) },
        },
      ]),
    );
  }
  if (g.ring) {
    value['Ring'] = {
      Start: g.ring.start,
      End: g.ring.end,
      Peer: peerNameToBigInt(g.ring.peer),
      Entries: g.ring.entries.map((e) => ({ Token: e.token, Peer: peerNameToBigInt(e.peer), Version: e.version, Free: e.free })),
      Seeds: g.ring.seeds.map(peerNameToBigInt),
    };
  }
  return gobEncode(gossipStateType, value as never);
}

export function decodeIpamGossip(buf: Uint8Array): IpamGossip {
  const v = gobDecode(gossipStateType, buf);
  const out: IpamGossip = {
    now: Number(v.Now),
    nicknames: new Map([...v.Nicknames].map(([k, name]) => [peerNameFromBigInt(k), name])),
  };
  if (v.Paxos.size > 0) {
    const state: PaxosState = new Map();
    for (const [idWire, c] of v.Paxos) {
      const id = fromNodeWire(idWire);
      state.set(nodeKey(id), {
        id,
        claims: {
          promise: fromProposalWire(c.Promise),
          accepted: fromProposalWire(c.Accepted),
          acceptedVal: { value: c.AcceptedVal.Value.map(peerNameFromBigInt), origin: fromProposalWire(c.AcceptedVal.Origin) },
        },
      });
    }
    out.paxos = state;
  }
  // Go leaves a nil *Ring out entirely; an empty ring arrives with zero Start and End
  if (v.Ring.End > v.Ring.Start) {
    out.ring = {
      start: v.Ring.Start,
      end: v.Ring.End,
      peer: peerNameFromBigInt(v.Ring.Peer),
      entries: v.Ring.Entries.map((e) => ({ token: e.Token, peer: peerNameFromBigInt(e.Peer), version: e.Version, free: e.Free })),
      seeds: v.Ring.Seeds.map(peerNameFromBigInt),
    };
  }
  return out;
}

export function encodeUnicast(type: number, body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(type), body]);
}

export function encodeRange(r: AddressRange): Buffer {
  return gobEncode(rangeType, { Start: r.start, End: r.end });
}

export function decodeRange(buf: Uint8Array): AddressRange {
  const v = gobDecode(rangeType, buf);
  if (!(v.Start < v.End)) throw new Error(`bad range in space request: ${v.Start}-${v.End}`);
  return { start: v.Start, end: v.End };
}
