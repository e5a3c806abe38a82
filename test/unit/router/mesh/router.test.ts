import { expect } from 'chai';
import { Writable } from 'node:stream';
import winston from 'winston';
import { formatConnections, formatPeers, formatRouterSummary } from '../../../../router/mesh/status.ts';
import { PROTOCOL_MAX_VERSION, PROTOCOL_MIN_VERSION } from '../../../../router/mesh/handshake.ts';
import type { MemoryConnection } from './memory-connection.ts';
import type { OverlayConnectionControl, OverlayHook, PeerInfo } from '../../../../router/mesh/route-table.ts';
import type { MeshConnection } from '../../../../router/mesh/contract.ts';
import { ProtocolTag } from '../../../../router/mesh/contract.ts';
import { MemoryNetwork, RecordingGossiper, fastTimings, setData, startNode, stopNode, waitFor } from './memory-network.ts';
import type { NetNode } from './memory-network.ts';

// Names chosen so that c < b < a: with discovery, the lower name dials.
const NA = '00:00:00:00:00:03';
const NB = '00:00:00:00:00:02';
const NC = '00:00:00:00:00:01';

function captureLogger(into: { level: string; message: string }[]): winston.Logger {
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      into.push(JSON.parse(chunk.toString()) as { level: string; message: string });
      done();
    },
  });
  return winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
}

function establishedPeers(n: NetNode): string[] {
  return n.router
    .status()
    .Connections.filter((c) => c.State === 'established')
    .map((c) => c.Info.trim().split(/\s+/).at(-1)!)
    .sort();
}

/** Every router knows every peer, and every peer's connections are established at both ends. */
function converged(nodes: NetNode[]): boolean {
  const names = nodes.map((n) => n.identity.name).sort();
  return nodes.every((n) => {
    const st = n.router.status();
    if (JSON.stringify(st.Peers.map((p) => p.Name)) !== JSON.stringify(names)) return false;
    return st.Peers.every((p) => p.Connections.length === names.length - 1 && p.Connections.every((c) => c.Established));
  });
}

describe('MeshRouter over in-memory connections', function () {
  this.timeout(20000);
  let net: MemoryNetwork;
  beforeEach(() => {
    net = new MemoryNetwork();
  });
  afterEach(async () => {
    await net.cleanup();
  });

  it('a chain A–B–C learns the whole topology; C dials A by discovery; a stopped peer is removed', async () => {
    const b = await net.add(NB, 'b', '10.0.0.2');
    const a = await net.add(NA, 'a', '10.0.0.3', { peers: ['10.0.0.2'] });
    const c = await net.add(NC, 'c', '10.0.0.1', { peers: ['10.0.0.2'] });
    await startNode(b);
    await startNode(a);
    await startNode(c);

    await waitFor('full mesh', () => converged([a, b, c]));
    // C (lowest name) dialled A; A (higher) held back and never dialled C.
    expect(c.dials).to.include('10.0.0.3:6783');
    expect(a.dials).to.deep.equal(['10.0.0.2:6783']);
    const aConns = a.router.status().Connections;
    expect(aConns.find((x) => x.Info.includes(NC))).to.include({ Outbound: false, State: 'established' });
    expect(establishedPeers(a)).to.deep.equal([`${NC}(c)`, `${NB}(b)`]);

    // routes: direct everywhere; broadcasts from A reach both directly
    const st = a.router.status();
    expect(st.UnicastRoutes).to.deep.equal([
      { Dest: NC, Via: NC },
      { Dest: NB, Via: NB },
    ]);
    expect(a.router.broadcastNextHops(NA)).to.deep.equal([NC, NB]);
    expect(a.router.broadcastNextHops(NB)).to.deep.equal([]);
    expect(a.router.peer(NB)).to.include({ nickname: 'b', shortId: 1 });
    expect(a.router.peerByShortId(3)?.name).to.equal(NC);

    const removedAtA: PeerInfo[] = [];
    a.router.onPeerRemoved((p) => removedAtA.push(p));
    await stopNode(c);
    await waitFor('C removed at A and B', () => a.router.peer(NC) === undefined && b.router.peer(NC) === undefined);
    expect(removedAtA.map((p) => p.name)).to.deep.equal([NC]);
    expect(a.router.unicastNextHop(NC)).to.equal(undefined);
    await waitFor('A and B agree on the remaining topology', () => converged([a, b]));
  });

  it('two peers dialling each other end up with one connection, the same at both ends, and stay quiet', async () => {
    const logs: { level: string; message: string }[] = [];
    const logger = captureLogger(logs);
    // random 0: a failed first dial is retried after exactly 1 s
    const a = await net.add(NA, 'a', '10.0.0.3', { peers: ['10.0.0.2:6783'], random: () => 0, logger });
    const b = await net.add(NB, 'b', '10.0.0.2', { peers: ['10.0.0.3:6783'], random: () => 0, logger });
    await Promise.all([startNode(a), startNode(b)]);
    await waitFor('connected', () => converged([a, b]));
    await new Promise((r) => setTimeout(r, 1500));
    const ca = a.router.connections();
    const cb = b.router.connections();
    expect(ca.length).to.equal(1);
    expect(cb.length).to.equal(1);
    expect(ca[0]!.connUid).to.equal(cb[0]!.connUid);
    const dialsBefore = a.dials.length + b.dials.length;
    await new Promise((r) => setTimeout(r, 2500));
    expect(a.dials.length + b.dials.length, 'no re-dial loop').to.equal(dialsBefore);
    expect(a.router.connections()[0]).to.equal(ca[0]);
    for (const n of [a, b]) {
      const t = n.router.connectionMaker.targetStatuses();
      expect(t.length).to.equal(1);
      expect(t[0]!.state).to.be.oneOf(['connected', 'suspended']);
    }
    expect(logs.filter((l) => l.level === 'warn' || l.level === 'error')).to.deep.equal([]);
    expect(logs.filter((l) => l.level === 'info' && /Multiple|duplicate/i.test(JSON.stringify(l)))).to.deep.equal([]);
  });

  it('counts gossip messages and bytes: what one end sent, the other received', async () => {
    const a = await net.add(NA, 'a', '10.0.0.3', { peers: ['10.0.0.2'] });
    const b = await net.add(NB, 'b', '10.0.0.2');
    expect(a.router.status().Gossip).to.deep.equal({ sentMessages: 0, sentBytes: 0, receivedMessages: 0, receivedBytes: 0 });
    await Promise.all([startNode(b), startNode(a)]);
    await waitFor('connected', () => converged([a, b]));
    // both have sent their topology at least once; counts settle once nothing is in flight
    await waitFor('counters agree', () => {
      const [ga, gb] = [a.router.status().Gossip, b.router.status().Gossip];
      return ga.sentMessages > 0 && gb.sentMessages > 0 && ga.sentBytes === gb.receivedBytes && gb.sentBytes === ga.receivedBytes && ga.sentMessages === gb.receivedMessages;
    });
  });

  it('gossip channels: broadcast, unicast and neighbour gossip cross a peer that does not run the channel', async () => {
    const b = await net.add(NB, 'b', '10.0.0.2');
    const a = await net.add(NA, 'a', '10.0.0.3', { peers: ['10.0.0.2'], discovery: false });
    const c = await net.add(NC, 'c', '10.0.0.1', { peers: ['10.0.0.2'], discovery: false });
    const ga = new RecordingGossiper();
    const gc = new RecordingGossiper();
    const sa = a.router.newGossip('test', ga);
    c.router.newGossip('test', gc);
    for (const n of [b, a, c]) await startNode(n);
    await waitFor('line topology known everywhere', () => [a, b, c].every((n) => n.router.status().Peers.length === 3));
    await waitFor('routes', () => a.router.routes.unicastAll(NC) === NB);

    sa.gossipBroadcast(setData(['hello']));
    await waitFor('broadcast at C', () => gc.broadcasts.length === 1);
    expect(gc.broadcasts[0]).to.deep.equal({ source: NA, update: '["hello"]' });

    sa.gossipUnicast(NC, Buffer.from('just for c'));
    await waitFor('unicast at C', () => gc.unicasts.length === 1);
    expect(gc.unicasts[0]).to.deep.equal({ source: NA, message: 'just for c' });

    sa.gossipNeighbourSubset(setData(['x']));
    sa.gossipNeighbourSubset(setData(['y']));
    await waitFor('coalesced gossip relayed by B to C', () => gc.state.has('x') && gc.state.has('y'));
  });

  it('a gossiper error tears the connection down with that message', async () => {
    const b = await net.add(NB, 'b', '10.0.0.2');
    const a = await net.add(NA, 'a', '10.0.0.3', { peers: ['10.0.0.2'] });
    const gb = new RecordingGossiper();
    gb.failWith = 'IP allocation was seeded by different peers';
    b.router.newGossip('ipam', gb);
    const ga = new RecordingGossiper();
    ga.state.add('ring');
    a.router.newGossip('ipam', ga);
    const reasons: string[] = [];
    b.router.onConnectionEvent((event, conn) => {
      if (event === 'removed') reasons.push((conn as MemoryConnection).closeReason?.message ?? '');
    });
    await startNode(b);
    await startNode(a);
    // A's full state goes down the new connection; B's gossiper rejects it.
    await waitFor('A sees its target failed', () => a.router.status().Connections.some((x) => x.State === 'failed'));
    const row = a.router.status().Connections.find((x) => x.State === 'failed')!;
    expect(row.Address).to.equal('10.0.0.2:6783');
    expect(row.Info).to.match(/^remote closed the connection, retry: /);
    expect(b.router.connections()).to.deep.equal([]);
    expect(reasons[0]).to.equal('IP allocation was seeded by different peers');
  });

  it('status in Weave formats', async () => {
    const b = await net.add(NB, 'b', '10.0.0.2');
    const a = await net.add(NA, 'a', '10.0.0.3', { peers: ['10.0.0.2', '10.0.0.9'] });
    await startNode(b);
    await startNode(a);
    await waitFor('connected', () => converged([a, b]));
    await waitFor('dead target failed', () => a.router.status().Connections.some((x) => x.State === 'failed'));
    const st = a.router.status();
    expect(st.Targets).to.deep.equal(['10.0.0.2', '10.0.0.9']);
    const conns = formatConnections(st).split('\n');
    expect(conns[0]).to.equal(`-> 10.0.0.2:6783         established none   ${NB}(b)`);
    expect(conns[1]).to.match(/^-> 10\.0\.0\.9:6783 {9}failed {6}dial tcp 10\.0\.0\.9:6783: connect: connection refused, retry: \d{4}-/);
    const peers = formatPeers(st).split('\n');
    expect(peers[0]).to.equal(`${NB}(b)`);
    expect(peers[1]).to.match(new RegExp(`^   <- 10\\.0\\.0\\.3:\\d+ +${NA}\\(a\\) +established$`));
    expect(peers[1]!.indexOf(NA)).to.equal(3 + 3 + 22);
    expect(peers[2]).to.equal(`${NA}(a)`);
    expect(peers[3]).to.equal(`   -> 10.0.0.2:6783         ${`${NB}(b)`.padEnd(37)} established`);
    const summary = formatRouterSummary(st);
    expect(summary).to.equal(
      [
        '        Service: router',
        `       Protocol: weave ${PROTOCOL_MIN_VERSION}..${PROTOCOL_MAX_VERSION}`,
        `           Name: ${NA}(a)`,
        '     Encryption: disabled',
        '  PeerDiscovery: enabled',
        '        Targets: 2',
        '    Connections: 2 (1 established, 1 failed)',
        '          Peers: 2 (with 2 established connections)',
        ' TrustedSubnets: none',
        '',
      ].join('\n'),
    );
  });

  it('the overlay hook gates "established", receives control messages and can fail a connection', async () => {
    const attached: { conn: MeshConnection; ctl: OverlayConnectionControl; msgs: [number, string][]; closed: boolean }[] = [];
    const overlay: OverlayHook = {
      features: () => ({ Overlays: 'sleeve' }),
      attach(conn, ctl) {
        const entry = { conn, ctl, msgs: [] as [number, string][], closed: false };
        attached.push(entry);
        return {
          onControlMessage: (tag, payload) => entry.msgs.push([tag, payload.toString()]),
          close: () => {
            entry.closed = true;
          },
          attrs: () => ({ name: 'sleeve', mtu: 1414 }),
        };
      },
    };
    const b = await net.add(NB, 'b', '10.0.0.2', { overlay });
    const a = await net.add(NA, 'a', '10.0.0.3', { peers: ['10.0.0.2'], overlay });
    const events: string[] = [];
    a.router.onConnectionEvent((e, conn) => events.push(`${e} ${conn.remote.nickname}`));
    await startNode(b);
    await startNode(a);
    await waitFor('both attached', () => attached.length === 2);
    const atA = attached.find((x) => x.conn.local.name === NA)!;
    const atB = attached.find((x) => x.conn.local.name === NB)!;
    expect(a.router.status().Connections[0]).to.include({ State: 'pending' });
    expect(a.router.unicastNextHop(NB)).to.equal(undefined);

    atA.ctl.markEstablished();
    await new Promise((r) => setTimeout(r, 50));
    expect(a.router.status().Connections[0]).to.include({ State: 'established' });
    expect(a.router.unicastNextHop(NB), 'not symmetric yet').to.equal(undefined);
    atB.ctl.markEstablished();
    await waitFor('symmetric', () => a.router.unicastNextHop(NB) === NB && b.router.unicastNextHop(NA) === NA);
    expect(formatConnections(a.router.status())).to.equal(`-> 10.0.0.2:6783         established sleeve ${NB}(b) mtu=1414\n`);

    atB.conn.send(ProtocolTag.OverlayControlMsg, Buffer.from('\x00\x05hb'));
    atB.conn.send(ProtocolTag.PMTUVerified, Buffer.from('old'));
    await waitFor('control messages', () => atA.msgs.length === 2);
    expect(atA.msgs).to.deep.equal([
      [7, '\x00\x05hb'],
      [3, 'old'],
    ]);

    atA.ctl.fail(new Error('no working forwarders'));
    await waitFor('torn down', () => atA.closed && atB.closed);
    expect(events.slice(0, 3)).to.deep.equal(['added b', 'established b', 'removed b']);
    expect(a.router.status().Connections[0]).to.include({ State: 'failed' });
    expect(a.router.status().Connections[0]!.Info).to.match(/^no working forwarders, retry: /);
  });

  it('a restarted peer (same name, new UID) replaces its old incarnation everywhere', async () => {
    // A and C keep the old incarnation's entry for a while (slow GC), so the new B hears
    // about its old self and must push its version beyond it.
    const slowGc = { timings: { ...fastTimings, gcDelayMs: 60_000 } };
    const b = await net.add(NB, 'b', '10.0.0.2');
    const a = await net.add(NA, 'a', '10.0.0.3', { peers: ['10.0.0.2'], ...slowGc });
    const c = await net.add(NC, 'c', '10.0.0.1', { peers: ['10.0.0.2'], ...slowGc });
    for (const n of [b, a, c]) await startNode(n);
    await waitFor('mesh', () => converged([a, b, c]));
    const oldVersion = a.router.peer(NB)!.version;
    await stopNode(b);
    const b2 = await net.add(NB, 'b2', '10.0.0.2', { identity: { name: NB, nickname: 'b2', uid: 999n, shortId: 77 } });
    await startNode(b2);
    await waitFor('new incarnation known', () => [a, c].every((n) => n.router.peer(NB)?.uid === 999n && n.router.peer(NB)?.nickname === 'b2'));
    expect(b2.router.peer(NB)!.version, 'pushed beyond the old incarnation').to.be.greaterThan(oldVersion);
    await waitFor('mesh again', () => converged([a, b2, c]));
  });

  it('a peer using our name is a collision that is never retried', async () => {
    const b = await net.add(NB, 'b', '10.0.0.2');
    const impostor = await net.add(NA, 'x', '10.0.0.4', { identity: { name: NB, nickname: 'x', uid: 4242n, shortId: 9 }, peers: ['10.0.0.2'] });
    await startNode(b);
    await startNode(impostor);
    await waitFor('failed', () => impostor.router.status().Connections.some((x) => x.State === 'failed'));
    const row = impostor.router.status().Connections[0]!;
    expect(row.Info).to.match(/peer name collision.*, retry: never$/);
    expect(b.router.connections()).to.deep.equal([]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(impostor.dials.length).to.equal(1);
  });

  it('resume: a restarted router dials the persisted targets', async () => {
    const b = await net.add(NB, 'b', '10.0.0.2');
    const a = await net.add(NA, 'a', '10.0.0.3', { peers: ['10.0.0.2'] });
    await startNode(b);
    await startNode(a);
    a.router.connect(['10.0.0.7:6783']);
    await waitFor('connected', () => converged([a, b]));
    await stopNode(a);
    const dataDir = (a.router as unknown as { opts: { dataDir: string } }).opts.dataDir;
    const a2 = await net.add(NA, 'a2', '10.0.0.3', { dataDir, resume: true, peers: ['10.0.0.99'] });
    await startNode(a2);
    await waitFor('reconnected', () => converged([a2, b]));
    expect(a2.router.status().Targets).to.deep.equal(['10.0.0.2', '10.0.0.7:6783']);
  });

  it('on a ring of five, a gossip broadcast reaches every other peer exactly once', async () => {
    const names = ['00:00:00:00:00:11', '00:00:00:00:00:12', '00:00:00:00:00:13', '00:00:00:00:00:14', '00:00:00:00:00:15'];
    const nodes: NetNode[] = [];
    const gossipers: RecordingGossiper[] = [];
    for (let i = 0; i < 5; i++) {
      const next = `10.0.1.${((i + 1) % 5) + 1}`;
      const n = await net.add(names[i]!, `r${i}`, `10.0.1.${i + 1}`, { peers: [next], discovery: false });
      const g = new RecordingGossiper();
      n.router.newGossip('test', g);
      nodes.push(n);
      gossipers.push(g);
    }
    for (const n of nodes) await startNode(n);
    await waitFor('ring known everywhere', () =>
      nodes.every((n) => {
        const st = n.router.status();
        return st.Peers.length === 5 && st.Peers.every((p) => p.Connections.length === 2 && p.Connections.every((c) => c.Established));
      }),
    );
    await new Promise((r) => setTimeout(r, 100));
    const sender = nodes[0]!.router.newGossip('test2', new RecordingGossiper());
    const receivers = nodes.slice(1).map((n) => {
      const g = new RecordingGossiper();
      n.router.newGossip('test2', g);
      return g;
    });
    sender.gossipBroadcast(setData(['once']));
    await waitFor('everyone got it', () => receivers.every((g) => g.broadcasts.length >= 1));
    await new Promise((r) => setTimeout(r, 200));
    expect(receivers.map((g) => g.broadcasts.length)).to.deep.equal([1, 1, 1, 1]);
    expect(gossipers.every((g) => g.broadcasts.length === 0)).to.equal(true);
  });
});
