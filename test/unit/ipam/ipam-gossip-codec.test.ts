// The IPallocation channel's payloads against bytes produced by Go's encoding/gob from Weave's
// types (fixtures/gen/main.go).
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { decodeIpamGossip, decodeRange, encodeIpamGossip, encodeRange, type IpamGossip } from '../../../ipam/ipam-gossip-codec.ts';
import { nodeKey, type PaxosState } from '../../../ipam/paxos.ts';

const go = JSON.parse(readFileSync(new URL('./fixtures/ipam-go-vectors.json', import.meta.url), 'utf8')) as Record<string, string>;
const vec = (k: string): Buffer => Buffer.from(go[k]!, 'hex');
const A = '0a:00:00:00:00:01';
const B = 'ce:31:e0:06:45:1a';

describe('ipam/gossip codec vs Go gob', () => {
  const ringMsg: IpamGossip = {
    now: 1764300000,
    nicknames: new Map([[A, 'host1']]),
    ring: {
      start: 0x0a200000,
      end: 0x0a300000,
      peer: A,
      seeds: [A, B],
      entries: [
        { token: 0x0a200000, peer: A, version: 3, free: 524000 },
        { token: 0x0a280000, peer: B, version: 0, free: 524288 },
      ],
    },
  };
  const id = { name: A, uid: 0xfedcba9876543210n };
  const p = { round: 2, proposer: id };
  const paxos: PaxosState = new Map([[nodeKey(id), { id, claims: { promise: p, accepted: p, acceptedVal: { value: [A, B], origin: p } } }]]);
  const paxosMsg: IpamGossip = { now: 1764300001, nicknames: new Map([[A, 'host1']]), paxos };

  it('decodes a ring gossip Go encoded', () => {
    expect(decodeIpamGossip(vec('ring'))).to.deep.equal(ringMsg);
  });

  it('decodes a Paxos gossip Go encoded', () => {
    expect(decodeIpamGossip(vec('paxos'))).to.deep.equal(paxosMsg);
  });

  it('encodes a ring gossip byte for byte as Go does', () => {
    expect(encodeIpamGossip(ringMsg).toString('hex')).to.equal(go['ring']);
  });

  it('encodes a Paxos gossip byte for byte as Go does', () => {
    expect(encodeIpamGossip(paxosMsg).toString('hex')).to.equal(go['paxos']);
  });

  it('space request ranges round-trip with Go', () => {
    expect(decodeRange(vec('range'))).to.deep.equal({ start: 0x0a200000, end: 0x0a210000 });
    expect(encodeRange({ start: 0x0a200000, end: 0x0a210000 }).toString('hex')).to.equal(go['range']);
  });

  it('refuses an empty or inverted range', () => {
    expect(() => decodeRange(encodeRange({ start: 5, end: 5 }))).to.throw(/bad range/);
  });
});
