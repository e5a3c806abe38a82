import { expect } from 'chai';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createNetwork, endpointId, MTU, NETWORK_STATE, networkId, PluginFixture, BRIDGE } from './plugin-fixture.ts';

describe('plugin: Docker call sequences', () => {
  let f: PluginFixture;

  beforeEach(async () => {
    f = await PluginFixture.create();
  });
  afterEach(async () => {
    await f.close();
  });

  /** What `docker run --network <net>` sends after network create; returns the address. */
  async function run(net: string, ep: string, poolId: string, opts: { ip?: string; mac?: string } = {}) {
    const addr = await f.call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: opts.ip ?? '', Options: {} });
    const created = await f.call('/NetworkDriver.CreateEndpoint', {
      NetworkID: net,
      EndpointID: ep,
      Interface: { Address: addr['Address'], AddressIPv6: '', MacAddress: opts.mac ?? '' },
      Options: { 'com.docker.network.endpoint.exposedports': [], 'com.docker.network.portmap': [] },
    });
    const joined = await f.call('/NetworkDriver.Join', { NetworkID: net, EndpointID: ep, SandboxKey: '/var/run/docker/netns/1f2e3d4c5b6a', Options: {} });
    await f.call('/NetworkDriver.ProgramExternalConnectivity', { NetworkID: net, EndpointID: ep, Options: {} });
    return { address: addr['Address'] as string, created, joined };
  }

  /** What `docker rm -f` sends. */
  async function remove(net: string, ep: string, poolId: string, address: string) {
    await f.call('/NetworkDriver.RevokeExternalConnectivity', { NetworkID: net, EndpointID: ep });
    await f.call('/NetworkDriver.Leave', { NetworkID: net, EndpointID: ep });
    await f.call('/NetworkDriver.DeleteEndpoint', { NetworkID: net, EndpointID: ep });
    await f.call('/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: address.split('/')[0] });
  }

  it('activates both drivers with the agreed capabilities', async () => {
    expect(await f.call('/Plugin.Activate')).to.deep.equal({ Implements: ['NetworkDriver', 'IpamDriver'] });
    expect(await f.call('/NetworkDriver.GetCapabilities')).to.deep.equal({ Scope: 'local', ConnectivityScope: 'global' });
    expect(await f.call('/IpamDriver.GetCapabilities')).to.deep.equal({ RequiresMACAddress: false, RequiresRequestReplay: false });
    expect(await f.call('/IpamDriver.GetDefaultAddressSpaces')).to.deep.equal({ LocalDefaultAddressSpace: 'weavelocal', GlobalDefaultAddressSpace: 'weaveglobal' });
  });

  it('network create, run, rm, network rm', async () => {
    const net = networkId(1);
    const ep = endpointId(1);
    const { poolId, pool } = await createNetwork(f, net);
    expect(pool).to.equal('10.33.0.0/24');
    expect(f.server.status().networks).to.deep.equal([{ id: net, subnet: '10.33.0.0/24', multicast: true, internal: false, endpoints: 0 }]);

    const { address, created, joined } = await run(net, ep, poolId);
    expect(address).to.equal('10.33.0.1/24');
    const hostVeth = 'vethwl' + ep.slice(0, 9);
    const guestVeth = 'vethwg' + ep.slice(0, 9);
    // the MAC comes from the address, as Docker's own drivers do it (a restarted container keeps it)
    expect(f.datapath.callsOf('createVeth')).to.deep.equal([[{ hostName: hostVeth, guestName: guestVeth, bridge: BRIDGE, mtu: MTU, guestMac: '02:42:0a:21:00:01' }]]);
    const guest = f.datapath.links.get(guestVeth);
    expect(created).to.deep.equal({ Interface: { MacAddress: guest?.mac } });
    expect(joined).to.deep.equal({
      InterfaceName: { SrcName: guestVeth, DstPrefix: 'eth' },
      StaticRoutes: [{ Destination: '224.0.0.0/4', RouteType: 1 }],
      DisableGatewayService: false,
    });
    expect(await f.call('/NetworkDriver.EndpointOperInfo', { NetworkID: net, EndpointID: ep })).to.deep.equal({
      Value: { hostVeth, guestVeth, macAddress: guest?.mac, address: '10.33.0.1/24' },
    });
    expect(f.server.status()).to.deep.include({ endpoints: 1 });
    expect(f.ipam.status().pools[0]?.addresses).to.deep.equal(['10.33.0.1']);

    await remove(net, ep, poolId, address);
    expect(f.datapath.links.has(hostVeth)).to.equal(false);
    expect(f.datapath.links.has(guestVeth)).to.equal(false);
    expect(f.server.status()).to.deep.include({ endpoints: 0 });
    expect(f.ipam.status().pools[0]?.addresses).to.deep.equal([]);

    // docker network rm: the gateway placeholder, then the pool, then the network
    await f.call('/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: '10.33.0.0' });
    await f.call('/IpamDriver.ReleasePool', { PoolID: poolId });
    await f.call('/NetworkDriver.DeleteNetwork', { NetworkID: net });
    expect(f.server.status()).to.deep.include({ networks: [], endpoints: 0 });
    expect(f.ipam.status().pools).to.deep.equal([]);
  });

  it('supports --subnet, --ip-range, --gateway, --ip and --mac-address', async () => {
    const net = networkId(2);
    const { poolId } = await createNetwork(f, net, { subnet: '10.50.0.0/16', ipRange: '10.50.8.0/24', gateway: '10.50.0.1' });
    const a = await run(net, endpointId(1), poolId);
    expect(a.address).to.equal('10.50.8.0/16');
    const b = await run(net, endpointId(2), poolId, { ip: '10.50.0.99', mac: '02:42:0A:32:00:63' });
    expect(b.address).to.equal('10.50.0.99/16');
    // Docker set the MAC: nothing to add, and the veth carries it
    expect(b.created).to.deep.equal({});
    expect(f.datapath.callsOf('createVeth')[1]?.[0]).to.deep.include({ guestMac: '02:42:0a:32:00:63' });
    expect(f.ipam.status().pools[0]?.addresses).to.deep.equal(['10.50.0.1', '10.50.0.99', '10.50.8.0']);
    const taken = await f.post('/IpamDriver.RequestAddress', JSON.stringify({ PoolID: poolId, Address: '10.50.0.99' }));
    expect(taken.status).to.equal(500);
    expect(taken.json['Err']).to.match(/10\.50\.0\.99 is already in use/);
  });

  it('keeps giving different pools during the overlap loop', async () => {
    const pools = [];
    for (let i = 0; i < 3; i += 1) pools.push((await f.call('/IpamDriver.RequestPool', { AddressSpace: 'weavelocal', Pool: '', SubPool: '', V6: false }))['Pool']);
    expect(new Set(pools).size).to.equal(3);
  });

  it('refuses a network created without weave IPAM, with the fix in the message', async () => {
    const before = await f.stateFiles();
    const reply = await f.post(
      '/NetworkDriver.CreateNetwork',
      JSON.stringify({ NetworkID: networkId(3), Options: {}, IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '172.18.0.0/16', Gateway: '172.18.0.1/16' }], IPv6Data: [] }),
    );
    expect(reply.status).to.equal(500);
    expect(reply.json['Err']).to.include('docker network create -d weave --ipam-driver weave <name>');
    expect(await f.stateFiles()).to.deep.equal(before);
    expect(f.server.status().networks).to.deep.equal([]);
  });

  it('refuses IPv6 and IPv4-less networks', async () => {
    const base = { NetworkID: networkId(4), IPv4Data: [{ AddressSpace: 'weavelocal', Pool: '10.33.0.0/24' }] };
    const v6 = await f.post('/NetworkDriver.CreateNetwork', JSON.stringify({ ...base, Options: { 'com.docker.network.enable_ipv6': true } }));
    expect(v6.status).to.equal(500);
    expect(v6.json['Err']).to.match(/IPv6 is not supported/);
    const v6data = await f.post('/NetworkDriver.CreateNetwork', JSON.stringify({ ...base, IPv6Data: [{ AddressSpace: 'weavelocal', Pool: 'fd00::/64' }] }));
    expect(v6data.status).to.equal(500);
    const noV4 = await f.post('/NetworkDriver.CreateNetwork', JSON.stringify({ NetworkID: networkId(4), Options: { 'com.docker.network.enable_ipv4': false }, IPv4Data: [] }));
    expect(noV4.status).to.equal(500);
    expect(noV4.json['Err']).to.match(/need IPv4/);
    const poolV6 = await f.post('/IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'weavelocal', V6: true }));
    expect(poolV6.status).to.equal(500);
    expect(poolV6.json['Err']).to.equal('IPv6 is not supported yet');
    expect(f.server.status().networks).to.deep.equal([]);
  });

  it('understands works.weave.multicast and --internal, refuses unknown weave options', async () => {
    await createNetwork(f, networkId(5), { generic: { 'works.weave.multicast': 'false', 'com.example.other': 'x' }, internal: true });
    await createNetwork(f, networkId(6), { generic: { 'works.weave.multicast': '' } });
    expect(f.server.status().networks.map((n) => [n.multicast, n.internal])).to.deep.equal([
      [false, true],
      [true, false],
    ]);
    await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: networkId(5), EndpointID: endpointId(5), Interface: { Address: '10.33.0.1/24' } });
    const joined = await f.call('/NetworkDriver.Join', { NetworkID: networkId(5), EndpointID: endpointId(5) });
    expect(joined).to.not.have.property('StaticRoutes');

    for (const [generic, pattern] of [
      [{ 'works.weave.multicast': 'maybe' }, /works\.weave\.multicast="maybe": expected true or false/],
      [{ 'works.weave.multicst': 'true' }, /unknown option works\.weave\.multicst/],
    ] as const) {
      const before = await f.stateFiles();
      const reply = await f.post(
        '/NetworkDriver.CreateNetwork',
        JSON.stringify({ NetworkID: networkId(7), Options: { 'com.docker.network.generic': generic }, IPv4Data: [{ AddressSpace: 'weavelocal', Pool: '10.33.9.0/24' }] }),
      );
      expect(reply.status).to.equal(500);
      expect(reply.json['Err']).to.match(pattern);
      expect(await f.stateFiles()).to.deep.equal(before);
    }
  });

  it('is idempotent for repeated calls', async () => {
    const net = networkId(8);
    const ep = endpointId(8);
    const { poolId } = await createNetwork(f, net);
    await f.call('/NetworkDriver.CreateNetwork', { NetworkID: net, Options: {}, IPv4Data: [{ AddressSpace: 'weavelocal', Pool: '10.33.0.0/24' }] });
    const { created } = await run(net, ep, poolId);
    const again = await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: ep, Interface: { Address: '10.33.0.1/24', MacAddress: '' } });
    expect(again).to.deep.equal(created);
    expect(f.datapath.callsOf('createVeth')).to.have.length(1);
    const withMac = await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: ep, Interface: { Address: '10.33.0.1/24', MacAddress: '02:00:00:00:00:99' } });
    expect(withMac).to.deep.equal({});
    expect(await f.call('/NetworkDriver.Join', { NetworkID: net, EndpointID: ep })).to.deep.equal(await f.call('/NetworkDriver.Join', { NetworkID: net, EndpointID: ep }));
    for (let i = 0; i < 2; i += 1) {
      await f.call('/NetworkDriver.Leave', { NetworkID: net, EndpointID: ep });
      await f.call('/NetworkDriver.DeleteEndpoint', { NetworkID: net, EndpointID: ep });
      await f.call('/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: '10.33.0.1' });
    }
    for (let i = 0; i < 2; i += 1) {
      await f.call('/IpamDriver.ReleasePool', { PoolID: poolId });
      await f.call('/NetworkDriver.DeleteNetwork', { NetworkID: net });
    }
    expect(f.server.status()).to.deep.include({ networks: [], endpoints: 0 });
  });

  it('answers unknown IDs: {} for deletes and Leave, an error for Join and CreateEndpoint', async () => {
    const ref = { NetworkID: networkId(9), EndpointID: endpointId(9) };
    expect(await f.call('/NetworkDriver.DeleteEndpoint', ref)).to.deep.equal({});
    expect(await f.call('/NetworkDriver.Leave', ref)).to.deep.equal({});
    expect(await f.call('/NetworkDriver.DeleteNetwork', { NetworkID: ref.NetworkID })).to.deep.equal({});
    expect(await f.call('/NetworkDriver.EndpointOperInfo', ref)).to.deep.equal({ Value: {} });
    expect(await f.call('/IpamDriver.ReleasePool', { PoolID: 'weave/10.99.0.0/24' })).to.deep.equal({});
    expect(await f.call('/IpamDriver.ReleaseAddress', { PoolID: 'weave/10.99.0.0/24', Address: '10.99.0.1' })).to.deep.equal({});
    const join = await f.post('/NetworkDriver.Join', JSON.stringify(ref));
    expect(join.status).to.equal(500);
    expect(join.json['Err']).to.match(/endpoint .* is not known/);
    const ce = await f.post('/NetworkDriver.CreateEndpoint', JSON.stringify({ ...ref, Interface: { Address: '10.33.0.1/24' } }));
    expect(ce.status).to.equal(500);
    expect(ce.json['Err']).to.match(/network .* is not known/);
    expect(f.datapath.callsOf('createVeth')).to.deep.equal([]);
  });

  it('refuses endpoints without an IPv4 address or with an IPv6 one', async () => {
    const net = networkId(10);
    await createNetwork(f, net);
    for (const [iface, pattern] of [
      [null, /no IPv4 address/],
      [{ Address: '' }, /no IPv4 address/],
      [{ Address: '10.33.0.1/24', AddressIPv6: 'fd00::1/64' }, /IPv6 addresses are not supported/],
    ] as const) {
      const reply = await f.post('/NetworkDriver.CreateEndpoint', JSON.stringify({ NetworkID: net, EndpointID: endpointId(10), Interface: iface }));
      expect(reply.status).to.equal(500);
      expect(reply.json['Err']).to.match(pattern);
    }
    expect(f.datapath.callsOf('createVeth')).to.deep.equal([]);
    expect(f.server.status().endpoints).to.equal(0);
  });

  it('refuses an endpoint ID already used on another network', async () => {
    await createNetwork(f, networkId(20));
    await createNetwork(f, networkId(21));
    await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: networkId(20), EndpointID: endpointId(20), Interface: { Address: '10.33.0.1/24' } });
    const before = await f.stateFiles();
    const reply = await f.post('/NetworkDriver.CreateEndpoint', JSON.stringify({ NetworkID: networkId(21), EndpointID: endpointId(20), Interface: { Address: '10.33.1.1/24' } }));
    expect(reply.status).to.equal(500);
    expect(reply.json['Err']).to.match(/already exists on network/);
    expect(await f.stateFiles()).to.deep.equal(before);
  });

  it('replaces a leftover veth that has no record', async () => {
    const net = networkId(11);
    const ep = endpointId(11);
    await createNetwork(f, net);
    const stale = f.datapath.addLink({ name: 'vethwl' + ep.slice(0, 9), kind: 'veth' });
    await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: ep, Interface: { Address: '10.33.0.1/24' } });
    expect(f.datapath.callsOf('deleteLink')).to.deep.equal([[stale.name]]);
    expect(f.datapath.links.get(stale.name)?.index).to.not.equal(stale.index);
  });

  it('re-creates the veth of a record whose veth is gone', async () => {
    const net = networkId(12);
    const ep = endpointId(12);
    await createNetwork(f, net);
    const first = await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: ep, Interface: { Address: '10.33.0.1/24' } });
    await f.datapath.deleteLink('vethwl' + ep.slice(0, 9));
    const again = await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: ep, Interface: { Address: '10.33.0.1/24' } });
    expect(f.datapath.callsOf('createVeth')).to.have.length(2);
    // same MAC as Docker was given the first time, now on the new veth
    expect(again).to.deep.equal(first);
    expect(again).to.deep.equal({ Interface: { MacAddress: f.datapath.links.get('vethwg' + ep.slice(0, 9))?.mac } });
  });

  it('deletes the veths of endpoints still on a deleted network', async () => {
    const net = networkId(13);
    await createNetwork(f, net);
    for (const n of [1, 2]) {
      await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: endpointId(n), Interface: { Address: `10.33.0.${n}/24` } });
    }
    await f.call('/NetworkDriver.DeleteNetwork', { NetworkID: net });
    expect([...f.datapath.links.keys()].filter((n) => n.startsWith('vethw'))).to.deep.equal([]);
    expect(f.server.status()).to.deep.include({ networks: [], endpoints: 0 });
  });

  it('answers the swarm and discovery methods', async () => {
    expect(await f.call('/NetworkDriver.AllocateNetwork', { NetworkID: networkId(14), Options: { a: 'b' }, IPv4Data: [{ AddressSpace: '', Pool: '10.0.1.0/24' }], IPv6Data: null })).to.deep.equal({
      Options: { a: 'b' },
    });
    expect(await f.call('/NetworkDriver.AllocateNetwork', { NetworkID: networkId(14) })).to.deep.equal({ Options: {} });
    expect(await f.call('/NetworkDriver.FreeNetwork', { NetworkID: networkId(14) })).to.deep.equal({});
    const discovery = { DiscoveryType: 1, DiscoveryData: { Address: '10.0.0.2', BindAddress: '10.0.0.2', Self: false } };
    expect(await f.call('/NetworkDriver.DiscoverNew', discovery)).to.deep.equal({});
    expect(await f.call('/NetworkDriver.DiscoverDelete', discovery)).to.deep.equal({});
    expect(await f.call('/NetworkDriver.GwAllocCheck', { Options: {} })).to.deep.equal({ SkipIPv4: true, SkipIPv6: true });
  });

  it('leaves state unchanged when the datapath fails', async () => {
    const net = networkId(15);
    const ep = endpointId(15);
    await createNetwork(f, net);
    const before = await f.stateFiles();
    f.datapath.failOn('createVeth', new Error('netlink: operation not permitted'));
    const reply = await f.post('/NetworkDriver.CreateEndpoint', JSON.stringify({ NetworkID: net, EndpointID: ep, Interface: { Address: '10.33.0.1/24' } }));
    expect(reply.status).to.equal(500);
    expect(reply.json['Err']).to.equal('netlink: operation not permitted');
    expect(await f.stateFiles()).to.deep.equal(before);
    f.datapath.clearFaults();

    await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: ep, Interface: { Address: '10.33.0.1/24' } });
    const withEndpoint = await f.stateFiles();
    f.datapath.failOn('deleteLink', new Error('netlink: device busy'));
    expect((await f.post('/NetworkDriver.DeleteEndpoint', JSON.stringify({ NetworkID: net, EndpointID: ep }))).status).to.equal(500);
    expect((await f.post('/NetworkDriver.DeleteNetwork', JSON.stringify({ NetworkID: net }))).status).to.equal(500);
    expect(await f.stateFiles()).to.deep.equal(withEndpoint);
    expect(f.server.status().endpoints).to.equal(1);
  });

  it('removes the new veth when its record cannot be written', async () => {
    const net = networkId(16);
    const ep = endpointId(16);
    await createNetwork(f, net);
    const state = join(f.dataDir, NETWORK_STATE);
    await rm(state);
    await mkdir(join(state, 'blocker'), { recursive: true });
    const reply = await f.post('/NetworkDriver.CreateEndpoint', JSON.stringify({ NetworkID: net, EndpointID: ep, Interface: { Address: '10.33.0.1/24' } }));
    expect(reply.status).to.equal(500);
    expect(f.datapath.links.has('vethwl' + ep.slice(0, 9))).to.equal(false);
    expect(f.server.status().endpoints).to.equal(0);
    await rm(state, { recursive: true });
  });

  it('survives a restart with networks, endpoints and addresses intact', async () => {
    const net = networkId(17);
    const ep = endpointId(17);
    const { poolId } = await createNetwork(f, net, { generic: { 'works.weave.multicast': 'false' } });
    const { joined } = await run(net, ep, poolId);
    const status = f.server.status();
    await f.restart();
    expect(f.server.status()).to.deep.equal(status);
    expect(await f.call('/NetworkDriver.Join', { NetworkID: net, EndpointID: ep })).to.deep.equal(joined);
    expect((await f.call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '' }))['Address']).to.equal('10.33.0.2/24');
  });

  it('serializes concurrent requests: parallel runs all land, a repeated CreateEndpoint makes one veth', async () => {
    const net = networkId(19);
    const { poolId } = await createNetwork(f, net);
    const runs = await Promise.all(Array.from({ length: 12 }, (_, i) => run(net, endpointId(100 + i), poolId)));
    expect(new Set(runs.map((r) => r.address)).size).to.equal(12);
    const ep = endpointId(200);
    const body = { NetworkID: net, EndpointID: ep, Interface: { Address: '10.33.0.200/24' } };
    const replies = await Promise.all([1, 2, 3].map(() => f.call('/NetworkDriver.CreateEndpoint', body)));
    expect(replies[1]).to.deep.equal(replies[0]);
    expect(replies[2]).to.deep.equal(replies[0]);
    expect(f.datapath.callsOf('createVeth').filter((c) => (c[0] as { hostName: string }).hostName === 'vethwl' + ep.slice(0, 9))).to.have.length(1);
    await f.restart();
    expect(f.server.status().networks[0]?.endpoints).to.equal(13);
    expect(f.ipam.status().pools[0]?.allocated).to.equal(12);
  });

  it('reconciles: deletes unrecorded vethwl links, reports records without veth', async () => {
    const net = networkId(18);
    await createNetwork(f, net);
    for (const n of [1, 2]) {
      await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: endpointId(n), Interface: { Address: `10.33.0.${n}/24` } });
    }
    const gone = 'vethwl' + endpointId(2).slice(0, 9);
    f.datapath.links.delete(gone);
    f.datapath.addLink({ name: 'vethwldeadbeef0', kind: 'veth' });
    f.datapath.addLink({ name: 'vethother', kind: 'veth' });
    await f.server.reconcile();
    expect(f.datapath.callsOf('deleteLink')).to.deep.equal([['vethwldeadbeef0']]);
    expect([...f.datapath.links.keys()]).to.include.members([BRIDGE, 'eth0', 'vethother', 'vethwl' + endpointId(1).slice(0, 9)]);
    expect(f.server.status().reconciled).to.deep.equal({ removedLinks: ['vethwldeadbeef0'], endpointsWithoutLink: [endpointId(2)] });
    // the record stays until Docker deletes it
    expect(f.server.status().endpoints).to.equal(2);
  });

  it('gives a container on two multicast networks the multicast route once, and again after it left', async () => {
    const sandbox = '/var/run/docker/netns/abcabcabcabc';
    const a = await createNetwork(f, networkId(7));
    const b = await createNetwork(f, networkId(8));
    const attach = async (net: string, ep: string, poolId: string) => {
      const addr = await f.call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: {} });
      await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: ep, Interface: { Address: addr['Address'] } });
      return f.call('/NetworkDriver.Join', { NetworkID: net, EndpointID: ep, SandboxKey: sandbox, Options: {} });
    };
    const first = await attach(networkId(7), endpointId(71), a.poolId);
    const second = await attach(networkId(8), endpointId(81), b.poolId);
    expect(first['StaticRoutes']).to.deep.equal([{ Destination: '224.0.0.0/4', RouteType: 1 }]);
    expect(second).to.not.have.property('StaticRoutes');
    // the route's owner leaves (docker network disconnect): the next join may carry it again
    await f.call('/NetworkDriver.Leave', { NetworkID: networkId(7), EndpointID: endpointId(71) });
    await f.call('/NetworkDriver.Leave', { NetworkID: networkId(8), EndpointID: endpointId(81) });
    const again = await f.call('/NetworkDriver.Join', { NetworkID: networkId(8), EndpointID: endpointId(81), SandboxKey: sandbox, Options: {} });
    expect(again['StaticRoutes']).to.deep.equal([{ Destination: '224.0.0.0/4', RouteType: 1 }]);
  });

  it('refuses an endpoint whose address is not an IPv4 CIDR, creating nothing', async () => {
    const net = networkId(9);
    await createNetwork(f, net);
    for (const bad of ['garbage/77', '10.33.0.5', '10.33.0.500/24', '10.33.0.5/33']) {
      const r = await f.post('/NetworkDriver.CreateEndpoint', JSON.stringify({ NetworkID: net, EndpointID: endpointId(90), Interface: { Address: bad } }));
      expect(r.status, bad).to.equal(400);
      expect(r.json['Err'], bad).to.match(/Interface\.Address/);
    }
    expect(f.datapath.callsOf('createVeth')).to.deep.equal([]);
    expect(f.server.status().endpoints).to.equal(0);
  });

  it('drops what Docker removed while the daemon was down, and nothing made after start', async () => {
    const kept = await createNetwork(f, networkId(10));
    const gone = await createNetwork(f, networkId(11));
    const attach = async (net: string, ep: string, poolId: string) => {
      const addr = await f.call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: {} });
      await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: ep, Interface: { Address: addr['Address'] } });
    };
    await attach(networkId(10), endpointId(101), kept.poolId); // still running
    await attach(networkId(10), endpointId(102), kept.poolId); // removed while we were down
    await attach(networkId(11), endpointId(111), gone.poolId); // its network was removed
    await f.restart();
    // made after start: Docker may be creating it right now, so it must survive the sync
    const fresh = await createNetwork(f, networkId(12));
    await attach(networkId(12), endpointId(121), fresh.poolId);

    const dropped = await f.server.syncWithDocker({ networks: new Set([networkId(10)]), endpoints: new Set([endpointId(101)]) });
    expect(dropped).to.deep.equal({ networks: 1, endpoints: 2 });
    expect(f.server.status().networks.map((n) => n.id)).to.deep.equal([networkId(10), networkId(12)]);
    expect(f.server.status().endpoints).to.equal(2);
    expect(f.datapath.links.has('vethwl' + endpointId(102).slice(0, 9))).to.equal(false);
    expect(f.datapath.links.has('vethwl' + endpointId(101).slice(0, 9))).to.equal(true);
    const pools = f.ipam.status().pools;
    expect(pools.map((p) => p.poolId)).to.deep.equal([kept.poolId, fresh.poolId]);
    expect(pools[0]?.addresses).to.have.length(1);
    // only once per start
    expect(await f.server.syncWithDocker({ networks: new Set(), endpoints: new Set() })).to.deep.equal({ networks: 0, endpoints: 0 });
  });

  it('after the grace, releases addresses stored before a crash that nothing uses; keeps those Docker uses, those allocated after start, and one a retried CreateEndpoint takes', async () => {
    await f.server.stop();
    f = await PluginFixture.create({ orphanGraceMs: 100 });
    const net = await createNetwork(f, networkId(20));
    const request = async (): Promise<string> => String((await f.call('/IpamDriver.RequestAddress', { PoolID: net.poolId, Address: '', Options: {} }))['Address']).split('/')[0]!;
    const inUse = await request();
    await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: networkId(20), EndpointID: endpointId(201), Interface: { Address: `${inUse}/24` } });
    const orphan = await request(); // stored, but the daemon died before Docker heard the answer
    const dockerOnly = await request(); // Docker has it (say, a gateway) without an endpoint of ours
    const retried = await request(); // Docker heard it; its CreateEndpoint found us down and is retried
    await f.restart();
    const afterStart = await request(); // Docker may be creating its endpoint right now

    const r = await f.server.syncWithDocker({ networks: new Set([networkId(20)]), endpoints: new Set([endpointId(201)]), addresses: new Set([inUse, dockerOnly]) });
    expect(r).to.deep.equal({ networks: 0, endpoints: 0, addresses: 2 });
    const addresses = (): string[] | undefined => f.ipam.status().pools.find((p) => p.poolId === net.poolId)?.addresses;
    expect(addresses(), 'nothing released before the grace').to.include.members([orphan, retried]);
    await f.call('/NetworkDriver.CreateEndpoint', { NetworkID: networkId(20), EndpointID: endpointId(202), Interface: { Address: `${retried}/24` } });
    await new Promise((r) => setTimeout(r, 250));
    expect(addresses()).to.have.members([inUse, dockerOnly, retried, afterStart]);
  });

  it('never releases as orphans the addresses reserved outside Docker (the host\'s exposed ones)', async () => {
    await f.server.stop();
    let reserved: string[] = [];
    f = await PluginFixture.create({ orphanGraceMs: 50, reservedAddresses: () => reserved });
    const net = await createNetwork(f, networkId(30));
    const request = async (): Promise<string> => String((await f.call('/IpamDriver.RequestAddress', { PoolID: net.poolId, Address: '', Options: {} }))['Address']);
    const exposed = await request(); // with its prefix, as the expose service records it
    const orphan = (await request()).split('/')[0]!;
    reserved = [exposed];
    await f.restart();
    const r = await f.server.syncWithDocker({ networks: new Set([networkId(30)]), endpoints: new Set(), addresses: new Set() });
    expect(r).to.deep.equal({ networks: 0, endpoints: 0, addresses: 1 });
    await new Promise((r) => setTimeout(r, 150));
    expect(f.ipam.status().pools.find((p) => p.poolId === net.poolId)?.addresses).to.deep.equal([exposed.split('/')[0]]);
    expect(orphan).to.not.equal(exposed.split('/')[0]);
  });

  it('refreshIsolation folds the host ports in once the records are loaded, and does nothing before', async () => {
    await f.server.stop();
    const hostPorts = [{ subnet: '10.32.0.0/16', port: 'vethwex0a200000' }];
    f = await PluginFixture.create({ hostPorts: () => hostPorts });
    await createNetwork(f, networkId(40), { subnet: '10.32.0.0/16' });
    await f.server.refreshIsolation();
    expect(f.datapath.isolatedAs('vethwex0a200000')).to.equal('10.32.0.0/16');
    await f.server.stop();
    const applied = f.datapath.callsOf('applyIsolation').length;
    // stopped (or not yet started, as when the expose service starts): the plugin's start-up
    // reconcile applies the policy instead
    await f.server.refreshIsolation();
    expect(f.datapath.callsOf('applyIsolation')).to.have.length(applied);
    await f.server.start();
  });
});
