import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../common/logger.ts';
import type { IpallocInit } from '../../../ipam/ipam-mesh.ts';
import { formatIpv4, parseIpv4 } from '../../../common/ipv4.ts';
import { RingAllocator } from '../../../ipam/ring-allocator.ts';
import { SimNetwork } from './sim-network.ts';

const NAMES = ['0a:00:00:00:00:01', '0a:00:00:00:00:02', '0a:00:00:00:00:03'];
const RANGE = '10.32.0.0/12';
// 10.32.0.0/16 without network and broadcast
const SPAN = { start: parseIpv4('10.32.0.1'), end: parseIpv4('10.32.255.255') };
const ASK = { start: parseIpv4('10.32.0.0'), end: parseIpv4('10.33.0.0') };

describe('ipam/RingAllocator over a simulated mesh', function () {
  this.timeout(30000);
  let dir: string;
  let net: SimNetwork;
  const started: RingAllocator[] = [];

  async function peer(i: number, init: IpallocInit, waitMs = 5000): Promise<RingAllocator> {
    const a = new RingAllocator({
      dataDir: join(dir, `p${i}`),
      logger: silentLogger(),
      range: RANGE,
      init,
      mesh: () => net.mesh(NAMES[i]!, `host${i + 1}`),
      waitMs,
    });
    await a.start();
    started.push(a);
    return a;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weave-ring-'));
    net = new SimNetwork();
  });
  afterEach(async () => {
    for (const a of started.splice(0)) await a.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('three peers agree by consensus and hand out distinct addresses, the ring covering the whole range', async () => {
    const peers = await Promise.all([0, 1, 2].map((i) => peer(i, { mode: 'consensus', count: 3 })));
    const got = await Promise.all(peers.flatMap((p, i) => Array.from({ length: 100 }, (_, k) => p.allocate(`c${i}-${k}`, SPAN, ASK)))).catch((e: unknown) => {
      throw new Error(`${String(e)}; errors: ${JSON.stringify(net.errors.slice(0, 5))}; ring: ${JSON.stringify(peers[2]!.status().Entries)}`);
    });
    expect(new Set(got).size).to.equal(300);
    expect(net.errors).to.deep.equal([]);
    for (const p of peers) {
      const st = p.status();
      expect(st.Status).to.equal('ready');
      expect(st.Seeds).to.deep.equal(NAMES);
      expect(st.Entries.reduce((n, e) => n + e.Size, 0)).to.equal(2 ** 20);
    }
  });

  it('a lone peer waiting for consensus fails within its bound, naming what is missing, then succeeds once others arrive', async () => {
    const lone = await peer(0, { mode: 'consensus', count: 3 }, 1500);
    const t0 = Date.now();
    let msg = '';
    await lone.allocate('x', SPAN, ASK).catch((e: Error) => (msg = e.message));
    expect(Date.now() - t0).to.be.within(1400, 3000);
    expect(msg).to.match(/waiting for consensus: 1 of 3 peers known \(quorum 2\)/);
    expect(msg).to.contain(NAMES[0]);
    await peer(1, { mode: 'consensus', count: 3 });
    const a = await lone.allocate('x', SPAN, ASK);
    expect(formatIpv4(a)).to.match(/^10\.32\./);
  });

  it('seed mode creates the ring at once; rings seeded differently refuse to merge with a clear error', async () => {
    const a = await peer(0, { mode: 'seed', peers: [NAMES[0]!] });
    const b = await peer(1, { mode: 'seed', peers: [NAMES[1]!] });
    expect(a.status().Entries.map((e) => e.Peer)).to.deep.equal([NAMES[0]]);
    await new Promise((r) => setTimeout(r, 50));
    expect(net.errors.map((e) => e.error).join('\n')).to.match(/seeded by different peers/);
    expect(b.status().Seeds).to.deep.equal([NAMES[1]]);
  });

  it('peers start consensus by themselves once all expected peers are present, so an observer gets a ring', async () => {
    await Promise.all([0, 1].map((i) => peer(i, { mode: 'consensus', count: 2 })));
    const obs = await peer(2, { mode: 'observer' });
    const x = await obs.allocate('o', SPAN, ASK);
    expect(formatIpv4(x)).to.match(/^10\.32\./);
    expect(obs.status().Seeds).to.deep.equal(NAMES.slice(0, 2));
  });

  it('a peer that expects nobody else waits for its first allocation before seeding, so a mesh it joins first can still adopt it', async () => {
    const b = await peer(1, { mode: 'consensus', count: 1 });
    // several ticks alone: b must not seed a ring of its own
    await new Promise((r) => setTimeout(r, 1300));
    expect(b.status().Entries).to.deep.equal([]);
    const a = await peer(0, { mode: 'seed', peers: [NAMES[0]!] });
    await a.allocate('a', SPAN, ASK);
    const y = await b.allocate('b', SPAN, ASK);
    expect(formatIpv4(y)).to.match(/^10\.32\./);
    expect(b.status().Seeds).to.deep.equal([NAMES[0]]);
    expect(net.errors).to.deep.equal([]);
  });

  it('an observer gets the ring from others and allocates by asking for space', async () => {
    const a = await peer(0, { mode: 'seed', peers: [NAMES[0]!] });
    const obs = await peer(2, { mode: 'observer' });
    const x = await obs.allocate('o', SPAN, ASK);
    const y = await a.allocate('a', SPAN, ASK);
    expect(x).to.not.equal(y);
    expect(obs.status().Entries.some((e) => e.Peer === NAMES[2])).to.equal(true);
  });

  it('rmpeer takes over a dead peer\'s space; allocations continue without duplicates', async () => {
    const peers = await Promise.all([0, 1, 2].map((i) => peer(i, { mode: 'seed', peers: NAMES })));
    const before = await Promise.all(peers.map((p, i) => p.allocate(`b${i}`, SPAN, ASK)));
    net.kill(NAMES[2]!);
    await peers[2]!.stop();
    const { taken } = await peers[0]!.removePeer('host3');
    expect(taken).to.be.greaterThan(0);
    await new Promise((r) => setTimeout(r, 50));
    const st = peers[1]!.status();
    expect(st.Entries.some((e) => e.Peer === NAMES[2])).to.equal(false);
    const after = await Promise.all([peers[0]!, peers[1]!].flatMap((p, i) => Array.from({ length: 20 }, (_, k) => p.allocate(`a${i}-${k}`, SPAN, ASK))));
    expect(new Set([...before, ...after]).size).to.equal(before.length + after.length);
  });

  it('refuses rmpeer of a live peer', async () => {
    const peers = await Promise.all([0, 1].map((i) => peer(i, { mode: 'seed', peers: NAMES.slice(0, 2) })));
    let msg = '';
    await peers[0]!.removePeer(NAMES[1]!).catch((e: Error) => (msg = e.message));
    expect(msg).to.match(/is reachable/);
  });

  it('keeps its ring and allocations across a restart', async () => {
    const a = await peer(0, { mode: 'consensus', count: 1 });
    const x = await a.allocate('keep', SPAN, ASK);
    await a.stop();
    started.splice(started.indexOf(a), 1);
    net.kill(NAMES[0]!);
    const again = await peer(0, { mode: 'consensus', count: 1 });
    expect(again.addressesOf('keep')).to.deep.equal([x]);
    expect(again.status().Entries.length).to.be.greaterThan(0);
    const y = await again.allocate('other', SPAN, ASK);
    expect(y).to.not.equal(x);
  });

  it('reaches consensus despite 30% message loss', async () => {
    net.lossRate = 0.3;
    const peers = await Promise.all([0, 1, 2].map((i) => peer(i, { mode: 'consensus', count: 3 }, 20000)));
    const got = await Promise.all(peers.map((p, i) => p.allocate(`l${i}`, SPAN, ASK)));
    expect(new Set(got).size).to.equal(3);
  });
});

describe('ipam/RingAllocator: the way out of rings seeded by different peers', function () {
  this.timeout(20000);
  let dir: string;
  const started: RingAllocator[] = [];
  afterEach(async () => {
    for (const a of started.splice(0)) await a.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('rejoin adopts the other ring, asks back the addresses in use here, and reports real conflicts', async () => {
    dir = await mkdtemp(join(tmpdir(), 'weave-ring-'));
    const net = new SimNetwork();
    const mk = async (i: number): Promise<RingAllocator> => {
      const a = new RingAllocator({ dataDir: join(dir, `p${i}`), logger: silentLogger(), range: RANGE, init: { mode: 'seed', peers: [NAMES[i]!] }, mesh: () => net.mesh(NAMES[i]!, `host${i + 1}`), waitMs: 3000 });
      await a.start();
      started.push(a);
      return a;
    };
    const a = await mk(0);
    const b = await mk(1);
    // both seeded alone: each owns the whole range and hands out the same first addresses
    const a1 = await a.allocate('a1', SPAN, ASK);
    const b1 = await b.allocate('b1', SPAN, ASK);
    const b2 = await b.allocate('b2', SPAN, ASK);
    expect(b1).to.equal(a1);
    await new Promise((r) => setTimeout(r, 30));
    expect(net.errors.some((e) => /seeded by different peers/.test(e.error))).to.equal(true);
    await b.rejoin();
    net.gossipAll();
    await waitUntil(() => b.status().Reclaiming.length === 0 && b.status().Conflicts.length === 1);
    expect(b.status().Seeds).to.deep.equal([NAMES[0]]);
    // b2 came back to b; b1 = a1 is used on both sides and is reported, not silently kept
    expect(b.status().Conflicts[0]).to.contain(formatIpv4(b1));
    expect(b.status().Entries.some((e) => e.Peer === NAMES[1])).to.equal(true);
    const owner = (x: number): string | undefined => b.status().Entries.find((e) => parseIpv4(e.Token) <= x && x < parseIpv4(e.Token) + e.Size)?.Peer;
    expect(owner(b2)).to.equal(NAMES[1]);
    // new allocations on either side do not collide
    const more = await Promise.all([a.allocate('a2', SPAN, ASK), b.allocate('b3', SPAN, ASK)]);
    expect(new Set([a1, b2, ...more]).size).to.equal(4);
  });
});

async function waitUntil(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
