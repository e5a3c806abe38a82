// MeshRouter on the real wire layer (gob, framing, handshake, NaCl) over loopback TCP.

import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import { silentLogger } from '../../../../common/logger.ts';
import type { LocalIdentity } from '../../../../router/mesh/contract.ts';
import { MeshRouter } from '../../../../router/mesh/router.ts';
import type { MeshRouterOptions } from '../../../../router/mesh/router.ts';
import { RecordingGossiper, fastTimings, setData, waitFor } from './memory-network.ts';

const NA = '00:00:00:00:00:03';
const NB = '00:00:00:00:00:02';
const NC = '00:00:00:00:00:01';

describe('MeshRouter over loopback TCP', function () {
  this.timeout(30000);
  const routers: MeshRouter[] = [];
  const dirs: string[] = [];

  async function router(name: string, nickname: string, opts: Partial<MeshRouterOptions> = {}): Promise<MeshRouter> {
    const identity: LocalIdentity = { name, nickname, uid: BigInt(routers.length + 1) * 0x1234567n, shortId: routers.length + 10 };
    const dataDir = await mkdtemp(join(tmpdir(), 'mesh-tcp-'));
    dirs.push(dataDir);
    const r = new MeshRouter({ identity, dataDir, host: '127.0.0.1', port: 0, logger: silentLogger(), timings: fastTimings, ...opts });
    routers.push(r);
    await r.start();
    return r;
  }
  const addr = (r: MeshRouter): string => `127.0.0.1:${r.listenPort}`;

  afterEach(async () => {
    for (const r of routers.splice(0)) await r.stop();
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('three routers: B dials A and C, A and C find each other, topology converges, a stopped router is removed', async () => {
    const a = await router(NA, 'a');
    const c = await router(NC, 'c');
    const b = await router(NB, 'b', { peers: [addr(a), addr(c)] });
    const all = [a, b, c];
    await waitFor(
      'full mesh, established everywhere',
      () =>
        all.every((r) => {
          const st = r.status();
          return st.Peers.length === 3 && st.Peers.every((p) => p.Connections.length === 2 && p.Connections.every((x) => x.Established));
        }),
      15000,
    );
    // C has the lower name: it dialled A; A only accepted.
    const atA = a.status().Connections.filter((x) => x.State === 'established');
    expect(atA.map((x) => [x.Outbound, x.Info.trim().split(/\s+/).at(-1)]).sort()).to.deep.equal([
      [false, `${NC}(c)`],
      [false, `${NB}(b)`],
    ]);
    expect(c.status().Connections.find((x) => x.Info.includes(NA))).to.include({ Outbound: true, Address: addr(a), State: 'established' });
    expect(a.unicastNextHop(NC)).to.equal(NC);
    expect(b.peer(NA)?.shortId).to.equal(10);

    await c.stop();
    await waitFor('C gone from A and B', () => a.peer(NC) === undefined && b.peer(NC) === undefined, 10000);
    expect(a.unicastNextHop(NC)).to.equal(undefined);
  });

  it('encrypted connections carry gossip and say so in status', async () => {
    const password = new TextEncoder().encode('s3cret');
    const a = await router(NA, 'a', { password });
    const ga = new RecordingGossiper();
    a.newGossip('test', ga);
    const b = await router(NB, 'b', { password, peers: [addr(a)] });
    const gb = new RecordingGossiper();
    const sb = b.newGossip('test', gb);
    // both ends: either may finish the handshake first (they run it concurrently), and B's
    // gossip has no route to A before B has registered the connection
    const up = (r: MeshRouter): boolean => r.connections().length === 1 && r.status().Connections[0]?.State === 'established';
    await waitFor('connected', () => up(a) && up(b));
    sb.gossipBroadcast(setData(['over tcp']));
    sb.gossipUnicast(NA, Buffer.from('direct'));
    await waitFor('gossip arrived', () => ga.state.has('over tcp') && ga.unicasts.length === 1);
    expect(ga.unicasts[0]).to.deep.equal({ source: NB, message: 'direct' });
    const row = b.status().Connections[0]!;
    expect(row.Info).to.equal(`encrypted   none   ${NA}(a)`);
    expect(b.status().Encryption).to.equal(true);
  });

  it('a peer with the wrong password never registers', async () => {
    const a = await router(NA, 'a', { password: new TextEncoder().encode('one') });
    const b = await router(NB, 'b', { password: new TextEncoder().encode('two'), peers: [addr(a)] });
    await waitFor('B reports the failure', () => b.status().Connections.some((x) => x.State === 'failed'), 10000);
    expect(a.connections()).to.deep.equal([]);
    expect(b.connections()).to.deep.equal([]);
  });

  // found by test/chaos/security.test.ts: the accepting side logged "from undefined:undefined"
  it('the accepting side logs who it refused (address and port) and why', async () => {
    const logs: { message: string; from?: string; error?: string }[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(JSON.parse(chunk.toString()) as { message: string });
        done();
      },
    });
    const logger = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
    const a = await router(NA, 'a', { password: new TextEncoder().encode('one'), logger });
    await router(NB, 'b', { peers: [addr(a)] });
    await waitFor('A logs the refusal', () => logs.some((l) => l.message === 'inbound handshake failed'), 10000);
    const refusal = logs.find((l) => l.message === 'inbound handshake failed')!;
    expect(refusal.from).to.match(/^127\.0\.0\.1:\d+$/);
    expect(refusal.error).to.match(/password/);
  });
});
