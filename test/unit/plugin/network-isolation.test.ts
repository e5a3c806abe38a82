// The plugin keeps the bridge's isolation rules in step with its records: a port is covered
// before its veth exists, leaves the rules with its endpoint, and a restart re-derives them.
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../common/logger.ts';
import { LocalIpam } from '../../../ipam/local-ipam.ts';
import { NetworkDriver } from '../../../plugin/network-driver.ts';
import { NetworkStore } from '../../../plugin/network-store.ts';
import { vethNamesFor } from '../../../plugin/veth-names.ts';
import { FakeDatapath } from './fake-datapath.ts';
import { endpointId, networkId } from './plugin-fixture.ts';

describe('plugin/NetworkDriver: isolation between networks', () => {
  let dir: string;
  let store: NetworkStore;
  let datapath: FakeDatapath;
  let driver: NetworkDriver;
  const netA = { NetworkID: networkId(1), Options: {}, IPv4Data: [{ AddressSpace: 'weavelocal', Pool: '10.33.0.0/24' }] };
  const netB = {
    NetworkID: networkId(2),
    Options: { 'com.docker.network.generic': { 'works.weave.multicast': 'false' } },
    IPv4Data: [{ AddressSpace: 'weavelocal', Pool: '10.34.0.0/24' }],
  };

  let hostPorts: { subnet: string; port: string }[] = [];
  const newDriver = (): NetworkDriver =>
    new NetworkDriver({ store, datapath, ipam: new LocalIpam({ dataDir: dir, logger: silentLogger() }), logger: silentLogger(), bridgeName: 'weave', mtu: 1376, hostPorts: () => hostPorts });

  beforeEach(async () => {
    hostPorts = [];
    dir = await mkdtemp(join(tmpdir(), 'weave-isolation-'));
    store = new NetworkStore({ dataDir: dir });
    await store.load();
    datapath = new FakeDatapath('weave');
    driver = newDriver();
    await driver.createNetwork(netA);
    await driver.createNetwork(netB);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('covers a new port with its network before the veth is created', async () => {
    await driver.createEndpoint({ NetworkID: networkId(1), EndpointID: endpointId(1), Interface: { Address: '10.33.0.1/24' } });
    const port = vethNamesFor(endpointId(1)).host;
    const order = datapath.calls.map((c) => c.method).filter((m) => m === 'applyIsolation' || m === 'createVeth');
    expect(order.slice(0, 2)).to.deep.equal(['applyIsolation', 'createVeth']);
    expect(datapath.isolatedAs(port)).to.equal('10.33.0.0/24');
  });

  it('keeps each network\'s ports and multicast setting apart', async () => {
    await driver.createEndpoint({ NetworkID: networkId(1), EndpointID: endpointId(1), Interface: { Address: '10.33.0.1/24' } });
    await driver.createEndpoint({ NetworkID: networkId(2), EndpointID: endpointId(2), Interface: { Address: '10.34.0.1/24' } });
    expect(datapath.isolation).to.deep.equal([
      { subnets: ['10.33.0.0/24'], multicast: true, ports: [vethNamesFor(endpointId(1)).host] },
      { subnets: ['10.34.0.0/24'], multicast: false, ports: [vethNamesFor(endpointId(2)).host] },
    ]);
  });

  it('drops a port from the rules with its endpoint, and a network with its deletion', async () => {
    await driver.createEndpoint({ NetworkID: networkId(1), EndpointID: endpointId(1), Interface: { Address: '10.33.0.1/24' } });
    await driver.deleteEndpoint(endpointId(1));
    expect(datapath.isolatedAs(vethNamesFor(endpointId(1)).host)).to.equal(undefined);
    await driver.deleteNetwork(networkId(2));
    expect(datapath.isolation.map((n) => n.subnets[0])).to.deep.equal(['10.33.0.0/24']);
  });

  it('refuses the endpoint, and creates no veth, when the rules cannot be installed', async () => {
    datapath.failOn('applyIsolation', new Error('Operation not supported'));
    const err = await driver.createEndpoint({ NetworkID: networkId(1), EndpointID: endpointId(1), Interface: { Address: '10.33.0.1/24' } }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.match(/cannot install the rules that keep weave networks apart: Operation not supported/);
    expect(datapath.links.has(vethNamesFor(endpointId(1)).host)).to.equal(false);
    expect(store.endpoints()).to.deep.equal([]);
  });

  it('re-derives the whole policy from the records after a restart', async () => {
    await driver.createEndpoint({ NetworkID: networkId(1), EndpointID: endpointId(1), Interface: { Address: '10.33.0.1/24' } });
    datapath.isolation = [];
    const reloaded = new NetworkStore({ dataDir: dir });
    await reloaded.load();
    store = reloaded;
    await newDriver().reconcile();
    expect(datapath.isolatedAs(vethNamesFor(endpointId(1)).host)).to.equal('10.33.0.0/24');
    expect(datapath.isolation).to.have.length(2);
  });

  it('puts a host port (weave expose) among its network\'s ports, and follows it on refreshIsolation', async () => {
    await driver.createEndpoint({ NetworkID: networkId(1), EndpointID: endpointId(1), Interface: { Address: '10.33.0.1/24' } });
    hostPorts = [
      { subnet: '10.33.0.0/24', port: 'vethwex0a210000' },
      // its network was deleted under it: still kept to its subnet, as an unlisted port is not filtered at all
      { subnet: '10.99.0.0/24', port: 'vethwex0a630000' },
    ];
    await driver.refreshIsolation();
    expect(datapath.isolation[0]).to.deep.equal({ subnets: ['10.33.0.0/24'], multicast: true, ports: [vethNamesFor(endpointId(1)).host, 'vethwex0a210000'] });
    expect(datapath.isolation[2]).to.deep.equal({ subnets: ['10.99.0.0/24'], multicast: true, ports: ['vethwex0a630000'] });
    hostPorts = [];
    await driver.refreshIsolation();
    expect(datapath.isolatedAs('vethwex0a210000')).to.equal(undefined);
    expect(datapath.isolation).to.have.length(2);
  });

  it('keeps host ports in the policy it re-derives after a restart, and leaves their links alone', async () => {
    hostPorts = [{ subnet: '10.34.0.0/24', port: 'vethwex0a220000' }];
    datapath.addLink({ name: 'vethwex0a220000', kind: 'veth' });
    const report = await newDriver().reconcile();
    expect(report.removedLinks).to.deep.equal([]);
    expect(datapath.links.has('vethwex0a220000')).to.equal(true);
    expect(datapath.isolatedAs('vethwex0a220000')).to.equal('10.34.0.0/24');
  });
});
