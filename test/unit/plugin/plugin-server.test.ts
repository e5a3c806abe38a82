import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { lstat, mkdir, writeFile } from 'node:fs/promises';
import { Server } from 'node:net';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../../common/logger.ts';
import { LocalIpam } from '../../../ipam/local-ipam.ts';
import { PluginServer } from '../../../plugin/plugin-server.ts';
import { call, post } from './plugin-client.ts';
import type { Ipam } from '../../../ipam/contract.ts';
import { BRIDGE, createNetwork, endpointId, MTU, NETWORK_STATE, networkId, PluginFixture } from './plugin-fixture.ts';

const here = dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('plugin: PluginServer lifecycle', () => {
  let f: PluginFixture;

  beforeEach(async () => {
    f = await PluginFixture.create();
  });
  afterEach(async () => {
    await f.close();
  });

  function secondServer(extra: { socketPath?: string; dataDir?: string } = {}): PluginServer {
    return new PluginServer({
      socketPath: extra.socketPath ?? f.socketPath,
      ipam: f.ipam,
      datapath: f.datapath,
      dataDir: extra.dataDir ?? f.dataDir,
      logger: silentLogger(),
      bridgeName: BRIDGE,
      mtu: MTU,
    });
  }

  it('creates the socket directory and the socket with mode 0660', async () => {
    const st = await lstat(f.socketPath);
    expect(st.isSocket()).to.equal(true);
    expect(st.mode & 0o777).to.equal(0o660);
  });

  // found by test/chaos/security.test.ts (a daemon launched under umask 000)
  it('under umask 000: the socket dir is not world-writable and the socket is bound with no access for others', async () => {
    const socketPath = join(f.dir, 'umask0', 'plugins', 'weave.sock');
    const seen: number[] = [];
    const listen = Server.prototype.listen;
    const old = process.umask(0);
    Server.prototype.listen = function (this: Server, ...args: unknown[]) {
      const m = process.umask(0);
      process.umask(m);
      seen.push(m);
      return (listen as (...a: unknown[]) => Server).apply(this, args);
    } as typeof listen;
    const s = secondServer({ socketPath, dataDir: join(f.dir, 'umask0-data') });
    try {
      await s.start();
      expect(seen.length, 'listen calls').to.equal(1);
      expect(seen[0]! & 0o007, 'umask bits for others while binding').to.equal(0o007);
      expect(process.umask(0), 'umask restored after listen').to.equal(0);
      expect((await lstat(dirname(socketPath))).mode & 0o777).to.equal(0o755);
      expect((await lstat(socketPath)).mode & 0o777).to.equal(0o660);
    } finally {
      Server.prototype.listen = listen;
      process.umask(old);
      await s.stop();
    }
  });

  it('replies with the plugin content type', async () => {
    const reply = await f.post('/Plugin.Activate');
    expect(reply.contentType).to.match(/^application\/vnd\.docker\.plugins\.v1\+json/);
  });

  it('removes its socket on stop, tolerates a second stop and starts again', async () => {
    await f.server.stop();
    expect(existsSync(f.socketPath)).to.equal(false);
    await f.server.stop();
    await f.server.start();
    expect(await f.call('/Plugin.Activate')).to.have.property('Implements');
  });

  it('stops promptly while Docker holds a keep-alive connection', async () => {
    const agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      const req = request({ socketPath: f.socketPath, path: '/Plugin.Activate', method: 'POST', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
    const started = Date.now();
    await f.server.stop();
    expect(Date.now() - started).to.be.below(1000);
    agent.destroy();
  });

  it('keeps idle keep-alive connections open for reuse, as Go clients expect', async function () {
    this.timeout(15_000);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const once = () =>
      new Promise<boolean>((resolve, reject) => {
        const req = request({ socketPath: f.socketPath, path: '/Plugin.Activate', method: 'POST', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(req.reusedSocket));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      expect(await once()).to.equal(false);
      // Node's default closes idle connections after 5 s (plus a grace of up to 1 s)
      await sleep(6500);
      expect(await once()).to.equal(true);
    } finally {
      agent.destroy();
    }
  });

  it('replaces a stale socket nobody listens on', async () => {
    await f.server.stop();
    await leaveStaleSocket(f.socketPath);
    expect((await lstat(f.socketPath)).isSocket()).to.equal(true);
    await f.server.start();
    expect(await f.call('/Plugin.Activate')).to.have.property('Implements');
  });

  it('refuses to take over a socket another process serves', async () => {
    const other = secondServer();
    let error: unknown;
    await other.start().catch((err: unknown) => (error = err));
    expect(String(error)).to.match(/another process is already serving/);
    // the running server is untouched
    expect(await f.call('/Plugin.Activate')).to.have.property('Implements');
  });

  it('refuses to replace something that is not a socket', async () => {
    const path = join(f.dir, 'not-a-socket.sock');
    await writeFile(path, 'keep me');
    let error: unknown;
    await secondServer({ socketPath: path }).start().catch((err: unknown) => (error = err));
    expect(String(error)).to.match(/is not a socket/);
    expect(existsSync(path)).to.equal(true);
  });

  it('refuses to start on a corrupt state file and leaves no socket behind', async () => {
    const dataDir = join(f.dir, 'corrupt');
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dataDir, NETWORK_STATE), '{"version":1,"networks":{}}');
    const socketPath = join(f.dir, 'corrupt.sock');
    let error: unknown;
    await secondServer({ socketPath, dataDir }).start().catch((err: unknown) => (error = err));
    expect(String(error)).to.match(/plugin state .* is not valid/);
    expect(existsSync(socketPath)).to.equal(false);
  });

  it('answers 500 before its deadline when the datapath hangs, and undoes the late endpoint', async () => {
    await f.close();
    f = await PluginFixture.create({ requestDeadlineMs: 300 });
    await createNetwork(f, networkId(1));
    const before = await f.stateFiles();
    const release = f.datapath.hangOn('createVeth');
    const started = Date.now();
    const body = { NetworkID: networkId(1), EndpointID: endpointId(1), Interface: { Address: '10.33.0.1/24' } };
    const reply = await f.post('/NetworkDriver.CreateEndpoint', JSON.stringify(body));
    expect(Date.now() - started).to.be.within(250, 2000);
    expect(reply.status).to.equal(500);
    expect(reply.json['Err']).to.match(/CreateEndpoint did not finish within 0\.3 s/);
    // methods that need no state lock still answer
    expect(await f.call('/Plugin.Activate')).to.have.property('Implements');
    release();
    // the late operation completes and then removes what Docker never got
    await f.server.reconcile();
    expect(await f.stateFiles()).to.deep.equal(before);
    expect(f.datapath.links.has('vethwl' + endpointId(1).slice(0, 9))).to.equal(false);
    expect(f.datapath.callsOf('createVeth')).to.have.length(1);
    // Docker's retry works
    const retry = await f.call('/NetworkDriver.CreateEndpoint', body);
    expect(retry).to.have.nested.property('Interface.MacAddress');
    expect(f.server.status().endpoints).to.equal(1);
  });

  // Found by test/fuzz: a caller that hung up while CreateEndpoint waited for the datapath left
  // the endpoint (veth, record) behind, though nobody would ever learn of it to delete it.
  it('undoes an endpoint whose caller hung up before the answer', async () => {
    await createNetwork(f, networkId(1));
    const before = await f.stateFiles();
    const release = f.datapath.hangOn('createVeth');
    const body = JSON.stringify({ NetworkID: networkId(1), EndpointID: endpointId(1), Interface: { Address: '10.33.0.1/24' } });
    await new Promise<void>((resolve) => {
      const req = request({ socketPath: f.socketPath, path: '/NetworkDriver.CreateEndpoint', method: 'POST', headers: { 'Content-Length': Buffer.byteLength(body) }, agent: false });
      req.on('error', () => resolve());
      req.end(body);
      // hang up once the request is being served (the veth is being created)
      const poll = setInterval(() => {
        if (f.datapath.callsOf('createVeth').length > 0) {
          clearInterval(poll);
          req.destroy();
          resolve();
        }
      }, 5);
    });
    await sleep(50);
    release();
    await f.server.reconcile();
    expect(await f.stateFiles()).to.deep.equal(before);
    expect(f.datapath.links.has('vethwl' + endpointId(1).slice(0, 9))).to.equal(false);
    expect(f.server.status().endpoints).to.equal(0);
  });

  it('releases addresses and pools whose caller hung up before the answer', async () => {
    const { poolId } = await createNetwork(f, networkId(1));
    const before = f.ipam.status();
    // a RequestAddress that waits behind a hanging CreateEndpoint is not what IPAM does; hang
    // up on a request held by a slow IPAM instead (the ring waits up to 10 s for space)
    const real = f.ipam;
    let gate!: () => void;
    const held = new Promise<void>((r) => (gate = r));
    const slow: Ipam = {
      start: () => real.start(),
      stop: () => real.stop(),
      defaultAddressSpaces: () => real.defaultAddressSpaces(),
      requestPool: async (req) => (await held, real.requestPool(req)),
      releasePool: (id) => real.releasePool(id),
      requestAddress: async (req) => (await held, real.requestAddress(req)),
      releaseAddress: (id, a) => real.releaseAddress(id, a),
      status: () => real.status(),
    };
    const sock = join(f.dir, 'slow.sock');
    const server = new PluginServer({ socketPath: sock, ipam: slow, datapath: f.datapath, dataDir: join(f.dir, 'slow'), logger: silentLogger(), bridgeName: BRIDGE, mtu: MTU });
    await server.start();
    try {
      const hangUp = (path: string, body: unknown) =>
        new Promise<void>((resolve) => {
          const text = JSON.stringify(body);
          const req = request({ socketPath: sock, path, method: 'POST', headers: { 'Content-Length': Buffer.byteLength(text) }, agent: false });
          req.on('error', () => resolve());
          req.end(text, () => setTimeout(() => (req.destroy(), resolve()), 100));
        });
      await hangUp('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '' });
      await hangUp('/IpamDriver.RequestPool', { AddressSpace: 'weavelocal', Pool: '10.99.0.0/24' });
      gate();
      await sleep(200);
      expect(f.ipam.status()).to.deep.equal(before);
      expect(await call(sock, '/IpamDriver.RequestAddress', { PoolID: poolId, Address: '' })).to.deep.equal({ Address: '10.33.0.1/24', Data: {} });
    } finally {
      await server.stop();
    }
  });

  it('releases pools and addresses whose request finished after the deadline', async () => {
    await f.close();
    f = await PluginFixture.create({ requestDeadlineMs: 200 });
    const { poolId } = await createNetwork(f, networkId(1));
    // an IPAM that is slow on purpose, in front of the real one
    let delay = 0;
    const real = f.ipam;
    const slow: Ipam = {
      start: () => real.start(),
      stop: () => real.stop(),
      defaultAddressSpaces: () => real.defaultAddressSpaces(),
      requestPool: async (req) => (await sleep(delay), real.requestPool(req)),
      releasePool: (id) => real.releasePool(id),
      requestAddress: async (req) => (await sleep(delay), real.requestAddress(req)),
      releaseAddress: (id, a) => real.releaseAddress(id, a),
      status: () => real.status(),
    };
    const server = new PluginServer({ socketPath: join(f.dir, 'slow.sock'), ipam: slow, datapath: f.datapath, dataDir: join(f.dir, 'slow'), logger: silentLogger(), bridgeName: BRIDGE, mtu: MTU, requestDeadlineMs: 200 });
    await server.start();
    try {
      const sock = join(f.dir, 'slow.sock');
      const before = f.ipam.status();
      delay = 400;
      expect((await post(sock, '/IpamDriver.RequestAddress', JSON.stringify({ PoolID: poolId, Address: '' }))).status).to.equal(500);
      expect((await post(sock, '/IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'weavelocal', Pool: '' }))).status).to.equal(500);
      await sleep(600);
      expect(f.ipam.status()).to.deep.equal(before);
      delay = 0;
      expect(await call(sock, '/IpamDriver.RequestAddress', { PoolID: poolId, Address: '' })).to.deep.equal({ Address: '10.33.0.1/24', Data: {} });
    } finally {
      await server.stop();
    }
  });

  it('keeps acknowledged state across kill -9', async function () {
    this.timeout(20_000);
    await f.server.stop();
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'crash-child.ts'), f.dataDir, f.socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
      });
      const grant = await call(f.socketPath, '/IpamDriver.RequestPool', { AddressSpace: 'weavelocal', Pool: '' });
      const poolId = grant['PoolID'] as string;
      await call(f.socketPath, '/NetworkDriver.CreateNetwork', { NetworkID: networkId(2), Options: {}, IPv4Data: [{ AddressSpace: 'weavelocal', Pool: grant['Pool'] }] });
      const address = await call(f.socketPath, '/IpamDriver.RequestAddress', { PoolID: poolId, Address: '' });
      await call(f.socketPath, '/NetworkDriver.CreateEndpoint', { NetworkID: networkId(2), EndpointID: endpointId(2), Interface: { Address: address['Address'] } });
    } finally {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('close', resolve));
    }
    // the dead child left its socket file behind
    expect(existsSync(f.socketPath)).to.equal(true);
    await f.ipam.stop();
    f.ipam = new LocalIpam({ dataDir: f.dataDir, logger: silentLogger() });
    await f.ipam.start();
    f.server = secondServer();
    await f.server.start();
    expect(f.server.status().networks).to.deep.equal([{ id: networkId(2), subnet: '10.33.0.0/24', multicast: true, internal: false, endpoints: 1 }]);
    expect(f.ipam.status().pools[0]?.addresses).to.deep.equal(['10.33.0.1']);
    const joined = await f.call('/NetworkDriver.Join', { NetworkID: networkId(2), EndpointID: endpointId(2) });
    expect(joined).to.have.nested.property('InterfaceName.SrcName', 'vethwg' + endpointId(2).slice(0, 9));
    // this process's datapath never saw the child's veth: reconcile reports it, keeps the record
    await f.server.reconcile();
    expect(f.server.status().reconciled).to.deep.equal({ removedLinks: [], endpointsWithoutLink: [endpointId(2)] });
  });
});

/** Leave a socket file with no listener, as a SIGKILLed process does. */
async function leaveStaleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('close', resolve));
}
