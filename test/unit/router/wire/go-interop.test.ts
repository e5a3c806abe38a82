// Live interoperability with a peer built on Go's encoding/gob and x/crypto/nacl
// (fixtures/go-peer.go). Skipped where no Go toolchain with x/crypto is installed.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { silentLogger } from '../../../../common/logger.ts';
import { acceptMesh } from '../../../../router/mesh/connect.ts';
import type { MeshConnectOptions } from '../../../../router/mesh/connect.ts';
import type { MeshConnection } from '../../../../router/mesh/contract.ts';
import { ProtocolTag } from '../../../../router/mesh/contract.ts';
import { decodeGossipEnvelope, encodeGossipEnvelope } from '../../../../router/mesh/gossip-codec.ts';
import { decodeTopology, encodeTopology } from '../../../../router/mesh/topology-codec.ts';
import { listen } from './loopback.ts';
import type { Listening } from './loopback.ts';

const goEnv = { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode' };
const source = fileURLToPath(new URL('./fixtures/go-peer.go', import.meta.url));

interface GoResult {
  features: Record<string, string>;
  heartbeats: number;
  gossip: {
    channel: string;
    source: string;
    peers: { name: string; nick: string; uid: string; version: number; shortId: number; hasShortId: boolean; conns: unknown[] }[];
  };
}

describe('interoperability with a Go peer over TCP', function () {
  this.timeout(120_000);
  let dir: string;
  let binary: string;
  let l: Listening;

  before(() => {
    // CI installs Go (.ci/run); a machine without it must not pass silently
    if (spawnSync('go', ['version']).status !== 0) {
      throw new Error('the Go interop test needs Go and x/crypto: apt-get install golang-go golang-golang-x-crypto-dev (.ci/run does)');
    }
    dir = mkdtempSync(join(tmpdir(), 'go-peer-'));
    binary = join(dir, 'go-peer');
    const build = spawnSync('go', ['build', '-o', binary, source], { env: { ...goEnv, GOCACHE: join(dir, 'cache') }, encoding: 'utf8' });
    if (build.status !== 0) {
      throw new Error(`building the Go peer failed (is golang-golang-x-crypto-dev installed?):\n${build.stderr}`);
    }
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    l = await listen();
  });
  afterEach(async () => {
    await l.close();
  });

  async function exchange(password?: string): Promise<{ conn: MeshConnection; go: GoResult; fromGo: Buffer }> {
    const opts: MeshConnectOptions = {
      local: { name: 'bb:00:00:00:00:02', nickname: 'ts', uid: 0xfffffffffffffff0n, shortId: 2 },
      logger: silentLogger(),
      heartbeatIntervalMs: 100,
      features: { Overlays: 'fastdp sleeve', Trusted: 'false' },
      ...(password ? { password: Buffer.from(password) } : {}),
    };
    const accepted = l.accepted().then((s) => acceptMesh(s, opts));
    const args = [l.address, ...(password ? [password] : [])];
    const goRun = new Promise<GoResult>((resolve, reject) =>
      execFile(binary, args, { timeout: 30_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`go peer failed: ${stderr || err.message}`));
        else resolve(JSON.parse(stdout) as GoResult);
      }),
    );
    const conn = await accepted;
    const fromGo = await new Promise<Buffer>((resolve) => conn.on('message', (tag, p) => tag === ProtocolTag.Gossip && resolve(p)));
    // Let a few heartbeats go out first, then answer with our own topology.
    await new Promise((r) => setTimeout(r, 350));
    conn.send(
      ProtocolTag.Gossip,
      encodeGossipEnvelope(ProtocolTag.Gossip, {
        channel: 'topology',
        source: opts.local.name,
        payload: encodeTopology([
          {
            name: opts.local.name,
            nickname: 'ts',
            uid: opts.local.uid,
            version: 9,
            shortId: 2,
            hasShortId: true,
            connections: [{ name: '12:34:56:78:9a:bc', remoteTcpAddr: '', outbound: false, established: true }],
          },
        ]),
      }),
    );
    const go = await goRun;
    conn.close();
    return { conn, go, fromGo };
  }

  for (const password of [undefined, 's3cret']) {
    it(`${password ? 'encrypted' : 'plain'}: handshake, features, gossip and heartbeats both ways`, async () => {
      const { conn, go, fromGo } = await exchange(password);
      // What we learnt from Go's features.
      expect(conn.remote).to.include({ name: '12:34:56:78:9a:bc', nickname: 'gopeer', uid: 0xffffffffffffffffn, connId: 42n, shortId: 7 });
      expect(conn.remote.features.Overlays).to.equal('sleeve');
      expect(conn.connUid).to.equal(42n ^ BigInt(go.features.ConnID!));
      if (password) expect(conn.sessionKey).to.have.length(32);
      // Go's gob decoded our features map.
      expect(go.features).to.include({ PeerNameFlavour: 'mac', Name: 'bb:00:00:00:00:02', NickName: 'ts', UID: '18446744073709551600', ShortID: '2' });
      expect(go.features.Overlays).to.equal('fastdp sleeve');
      // Go's gossip decoded by us.
      const env = decodeGossipEnvelope(ProtocolTag.Gossip, fromGo);
      expect(env.channel).to.equal('topology');
      expect(env.source).to.equal('12:34:56:78:9a:bc');
      const [peer] = decodeTopology(env.payload);
      expect(peer).to.deep.include({ name: '12:34:56:78:9a:bc', nickname: 'gopeer', uid: 0xffffffffffffffffn, version: 5, shortId: 7, hasShortId: true });
      expect(peer!.connections).to.deep.equal([{ name: 'bb:00:00:00:00:02', remoteTcpAddr: l.address, outbound: true, established: true }]);
      // Ours decoded by Go.
      expect(go.gossip).to.deep.include({ channel: 'topology', source: 'bb0000000002' });
      expect(go.gossip.peers).to.deep.equal([
        {
          name: 'bb0000000002',
          nick: 'ts',
          uid: '18446744073709551600',
          version: 9,
          shortId: 2,
          hasShortId: true,
          conns: [{ NameByte: Buffer.from('123456789abc', 'hex').toString('base64'), RemoteTCPAddr: '', Outbound: false, Established: true }],
        },
      ]);
      expect(go.heartbeats).to.be.at.least(2);
    });
  }
});
