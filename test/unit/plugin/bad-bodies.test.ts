import { expect } from 'chai';
import { createNetwork, endpointId, networkId, PluginFixture } from './plugin-fixture.ts';
import { post } from './plugin-client.ts';
import { isolationRuleset } from '../../../datapath/isolation/isolation-ruleset.ts';

/** Every method Docker may call; `args` = it carries a request body. */
const ROUTES: { path: string; args: boolean }[] = [
  { path: '/Plugin.Activate', args: false },
  { path: '/NetworkDriver.GetCapabilities', args: false },
  { path: '/NetworkDriver.GwAllocCheck', args: true },
  { path: '/NetworkDriver.CreateNetwork', args: true },
  { path: '/NetworkDriver.DeleteNetwork', args: true },
  { path: '/NetworkDriver.CreateEndpoint', args: true },
  { path: '/NetworkDriver.EndpointOperInfo', args: true },
  { path: '/NetworkDriver.DeleteEndpoint', args: true },
  { path: '/NetworkDriver.Join', args: true },
  { path: '/NetworkDriver.Leave', args: true },
  { path: '/NetworkDriver.ProgramExternalConnectivity', args: true },
  { path: '/NetworkDriver.RevokeExternalConnectivity', args: true },
  { path: '/NetworkDriver.DiscoverNew', args: true },
  { path: '/NetworkDriver.DiscoverDelete', args: true },
  { path: '/NetworkDriver.AllocateNetwork', args: true },
  { path: '/NetworkDriver.FreeNetwork', args: true },
  { path: '/IpamDriver.GetCapabilities', args: false },
  { path: '/IpamDriver.GetDefaultAddressSpaces', args: false },
  { path: '/IpamDriver.RequestPool', args: true },
  { path: '/IpamDriver.ReleasePool', args: true },
  { path: '/IpamDriver.RequestAddress', args: true },
  { path: '/IpamDriver.ReleaseAddress', args: true },
];

/** Every field any method reads, each with a wrong JSON type. */
const WRONG_TYPES = {
  NetworkID: 42,
  EndpointID: ['x'],
  PoolID: { id: 1 },
  Pool: 10,
  SubPool: false,
  AddressSpace: 7,
  Address: 5,
  V6: 'yes',
  Options: 'opts',
  Interface: 'eth0',
  IPv4Data: 'pool',
  IPv6Data: 3,
  DiscoveryType: 'node',
  SandboxKey: 9,
};

const GARBAGE = ['{nope', 'NetworkID=1', '{"NetworkID": "a",', '\u0000\u0001\u0002', 'null', '"string"', '42', 'true'];

describe('plugin: bad request bodies on every route', () => {
  let f: PluginFixture;
  let poolId: string;

  before(async () => {
    f = await PluginFixture.create();
    // some state for the bad requests to (not) damage
    poolId = (await createNetwork(f, networkId(1))).poolId;
    const address = await f.call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '' });
    await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: networkId(1), EndpointID: endpointId(1), Interface: { Address: address['Address'] } });
  });
  after(async () => {
    await f.close();
  });

  async function expectAliveAndUnchanged(before: Record<string, string | undefined>): Promise<void> {
    expect(await f.call('/Plugin.Activate')).to.deep.equal({ Implements: ['NetworkDriver', 'IpamDriver'] });
    expect(await f.stateFiles()).to.deep.equal(before);
    expect(f.server.status()).to.deep.include({ endpoints: 1 });
    expect(f.ipam.status().pools.find((p) => p.poolId === poolId)?.addresses).to.deep.equal(['10.33.0.1']);
  }

  for (const route of ROUTES) {
    describe(route.path, () => {
      it('answers 400 with Err to unparseable bodies', async () => {
        const before = await f.stateFiles();
        for (const garbage of GARBAGE) {
          const reply = await f.post(route.path, garbage);
          expect(reply.status, `${route.path} ${JSON.stringify(garbage)}`).to.equal(400);
          expect(reply.json['Err']).to.be.a('string').and.not.equal('');
        }
        await expectAliveAndUnchanged(before);
      });

      it(route.args ? 'answers 400 with Err to an empty body' : 'accepts an empty body', async () => {
        const before = await f.stateFiles();
        for (const empty of [undefined, '']) {
          const reply = await f.post(route.path, empty);
          if (route.args) {
            expect(reply.status).to.equal(400);
            expect(reply.json['Err']).to.match(/empty request body/);
          } else {
            expect(reply.status).to.equal(200);
            expect(reply.json).to.not.have.property('Err');
          }
        }
        // chunked with nothing in it, and whitespace only
        const chunked = await post(f.socketPath, route.path, '', { chunked: true });
        expect(chunked.status).to.equal(route.args ? 400 : 200);
        await expectAliveAndUnchanged(before);
      });

      it('answers 400 with Err naming the field to wrong-typed bodies', async () => {
        const before = await f.stateFiles();
        const bodies: unknown[] = [[], [{ NetworkID: 'x' }]];
        if (route.args) bodies.push(WRONG_TYPES, {});
        for (const body of bodies) {
          const reply = await f.post(route.path, JSON.stringify(body));
          const what = `${route.path} ${JSON.stringify(body)}`;
          if (route.path === '/IpamDriver.RequestPool' && JSON.stringify(body) === '{}') {
            // every RequestPool field is optional: {} means "any pool" and is a valid request
            expect(reply.status, what).to.equal(200);
            await f.call('/IpamDriver.ReleasePool', { PoolID: reply.json['PoolID'] });
            continue;
          }
          if (route.path === '/NetworkDriver.GwAllocCheck' && JSON.stringify(body) === '{}') {
            expect(reply.status, what).to.equal(200);
            continue;
          }
          expect(reply.status, what).to.equal(400);
          expect(reply.json['Err'], what).to.be.a('string');
          if (body === WRONG_TYPES) {
            // the message says which field is wrong
            const fields = Object.keys(WRONG_TYPES).filter((k) => (reply.json['Err'] as string).includes(`${k}:`));
            expect(fields.length, `${what} → ${String(reply.json["Err"])}`).to.be.above(0);
          }
        }
        await expectAliveAndUnchanged(before);
      });

      it('answers 400 with Err to bodies over 1 MiB', async () => {
        const before = await f.stateFiles();
        const huge = JSON.stringify({ NetworkID: 'x'.repeat(1024 * 1024 + 1) });
        const reply = await f.post(route.path, huge);
        expect(reply.status).to.equal(400);
        expect(reply.json['Err']).to.match(/larger than 1 MiB/);
        const chunked = await post(f.socketPath, route.path, Buffer.alloc(1024 * 1024 + 100, 0x20), { chunked: true });
        expect(chunked.status).to.equal(400);
        expect(chunked.json['Err']).to.match(/larger than 1 MiB/);
        await expectAliveAndUnchanged(before);
      });
    });
  }

  it('answers 404 with Err to unknown paths and other HTTP methods', async () => {
    const before = await f.stateFiles();
    for (const path of ['/', '/NetworkDriver.Bogus', '/IpamDriver', '/Plugin.activate', '/networkdriver.join', '/NetworkDriver.Join/x']) {
      const reply = await f.post(path, '{}');
      expect(reply.status, path).to.equal(404);
      expect(reply.json['Err'], path).to.be.a('string');
    }
    const get = await post(f.socketPath, '/Plugin.Activate', undefined, { method: 'GET' });
    expect(get.status).to.equal(404);
    expect(get.json['Err']).to.be.a('string');
    await expectAliveAndUnchanged(before);
  });

  it('answers 400 to invalid values in otherwise well-typed fields', async () => {
    const before = await f.stateFiles();
    const cases: [string, unknown, RegExp][] = [
      ['/NetworkDriver.CreateEndpoint', { NetworkID: networkId(1), EndpointID: 'short', Interface: { Address: '10.33.0.9/24' } }, /EndpointID/],
      ['/NetworkDriver.CreateEndpoint', { NetworkID: networkId(1), EndpointID: 'abc/../../x0000', Interface: { Address: '10.33.0.9/24' } }, /EndpointID/],
      ['/NetworkDriver.CreateEndpoint', { NetworkID: networkId(1), EndpointID: endpointId(2), Interface: { Address: '10.33.0.9/24', MacAddress: 'zz' } }, /Interface\.MacAddress/],
      // found by test/fuzz: the kernel refused these with a bare EADDRNOTAVAIL (a 500)
      ['/NetworkDriver.CreateEndpoint', { NetworkID: networkId(1), EndpointID: endpointId(2), Interface: { Address: '10.33.0.9/24', MacAddress: 'ff:ff:ff:ff:ff:ff' } }, /Interface\.MacAddress: expected a unicast/],
      ['/NetworkDriver.CreateEndpoint', { NetworkID: networkId(1), EndpointID: endpointId(2), Interface: { Address: '10.33.0.9/24', MacAddress: '01:00:5e:00:00:01' } }, /Interface\.MacAddress: expected a unicast/],
      ['/NetworkDriver.CreateEndpoint', { NetworkID: networkId(1), EndpointID: endpointId(2), Interface: { Address: '10.33.0.9/24', MacAddress: '00:00:00:00:00:00' } }, /Interface\.MacAddress: expected a unicast/],
      ['/NetworkDriver.CreateNetwork', { NetworkID: '', IPv4Data: [] }, /NetworkID/],
      ['/NetworkDriver.CreateNetwork', { NetworkID: networkId(2), Options: { 'com.docker.network.generic': { mtu: 1400 } }, IPv4Data: [] }, /Options\["com\.docker\.network\.generic"\]\.mtu/],
      ['/NetworkDriver.CreateNetwork', { NetworkID: networkId(2), IPv4Data: [{ Pool: '10.0.0.0/24' }] }, /IPv4Data\[0\]\.AddressSpace/],
      ['/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: '' }, /Address/],
    ];
    for (const [path, body, pattern] of cases) {
      const reply = await f.post(path, JSON.stringify(body));
      expect(reply.status, `${path} ${JSON.stringify(body)}`).to.equal(400);
      expect(reply.json['Err']).to.match(pattern);
    }
    await expectAliveAndUnchanged(before);
  });

  // Found by test/fuzz: CreateNetwork took any string as a pool, and any number of pools. The
  // isolation rules of every network are one transaction, so one pool they could not express
  // (or thousands of them, past the netlink message size) failed every later CreateEndpoint
  // and DeleteNetwork on the host until that network was deleted.
  it('refuses pools the isolation rules cannot hold, so other networks keep working', async () => {
    const before = await f.stateFiles();
    const pools = (n: number) => Array.from({ length: n }, (_, i) => ({ AddressSpace: 'weavelocal', Pool: `10.${200 + (i >> 8)}.${i & 0xff}.0/24` }));
    const cases: unknown[] = [
      [{ AddressSpace: 'weavelocal', Pool: 'vethwl0123456' }],
      [{ AddressSpace: 'weavelocal', Pool: '10.0.0.0/33' }],
      [{ AddressSpace: 'weavelocal', Pool: '010.1.1.0/24' }],
      [{ AddressSpace: 'weavelocal', Pool: 'fe80::/64' }],
      [{ AddressSpace: 'weavelocal', Pool: '10.50.0.0/24' }, { AddressSpace: 'weavelocal', Pool: ' 10.51.0.0/24' }],
      pools(33),
      pools(3000),
    ];
    for (const IPv4Data of cases) {
      const reply = await f.post('/NetworkDriver.CreateNetwork', JSON.stringify({ NetworkID: networkId(9), IPv4Data }));
      expect(reply.status, JSON.stringify(IPv4Data).slice(0, 120)).to.equal(400);
      expect(reply.json['Err']).to.match(/IPv4Data/);
    }
    await expectAliveAndUnchanged(before);
    // what the datapath was last asked to install still compiles
    expect(() => isolationRuleset(f.datapath.isolation)).not.to.throw();
    // the most a network may have is accepted
    await f.call('/NetworkDriver.CreateNetwork', { NetworkID: networkId(9), IPv4Data: pools(32) });
    await f.call('/NetworkDriver.DeleteNetwork', { NetworkID: networkId(9) });
  });

  // Found by test/fuzz: a body with thousands of wrong entries got an Err listing every one of
  // them (megabytes for Docker to show the user).
  it('names at most 10 problems of a body with thousands of them, and counts the rest', async () => {
    const before = await f.stateFiles();
    const cases: [string, unknown, number][] = [
      ['/NetworkDriver.AllocateNetwork', { NetworkID: 'n', IPv6Data: Array.from({ length: 5000 }, () => ({})) }, 5000],
      ['/NetworkDriver.CreateEndpoint', { NetworkID: 'n', EndpointID: 'x', Options: null, Interface: 7, ...Object.fromEntries(Array.from({ length: 3 }, (_, i) => [`k${i}`, i])) }, 2],
      ['/IpamDriver.RequestPool', { Options: Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`opt-${'x'.repeat(300)}-${i}`, i])) }, 3000],
    ];
    for (const [path, body, issues] of cases) {
      const reply = await f.post(path, JSON.stringify(body));
      expect(reply.status, path).to.equal(400);
      const err = reply.json['Err'] as string;
      expect(err.length, `${path}: ${err.slice(0, 300)}`).to.be.below(4000);
      if (issues > 10) expect(err).to.match(new RegExp(`; and ${issues - 10} more problems$`));
      else expect(err).not.to.match(/more problem/);
    }
    await expectAliveAndUnchanged(before);
  });
});
