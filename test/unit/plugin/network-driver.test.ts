import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../common/logger.ts';
import { LocalIpam } from '../../../ipam/local-ipam.ts';
import { NetworkDriver } from '../../../plugin/network-driver.ts';
import { NetworkStore } from '../../../plugin/network-store.ts';
import { FakeDatapath } from './fake-datapath.ts';
import { endpointId, networkId } from './plugin-fixture.ts';

describe('plugin/NetworkDriver: work that finishes after its deadline', () => {
  let dir: string;
  let store: NetworkStore;
  let datapath: FakeDatapath;
  let driver: NetworkDriver;
  const expired = { expired: () => true };
  const network = { NetworkID: networkId(1), Options: {}, IPv4Data: [{ AddressSpace: 'weavelocal', Pool: '10.33.0.0/24' }] };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weave-driver-'));
    store = new NetworkStore({ dataDir: dir });
    await store.load();
    datapath = new FakeDatapath('weave');
    const ipam = new LocalIpam({ dataDir: dir, logger: silentLogger() });
    driver = new NetworkDriver({ store, datapath, ipam, logger: silentLogger(), bridgeName: 'weave', mtu: 1376 });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('undoes a new network', async () => {
    await driver.createNetwork(network, expired);
    expect(store.networks()).to.deep.equal([]);
  });

  it('restores the previous record of a network it changed', async () => {
    await driver.createNetwork(network);
    const before = store.networks();
    await driver.createNetwork({ ...network, Options: { 'com.docker.network.internal': true } }, expired);
    expect(store.networks()).to.deep.equal(before);
  });

  it('undoes a new endpoint and its veth', async () => {
    await driver.createNetwork(network);
    const reply = await driver.createEndpoint({ NetworkID: networkId(1), EndpointID: endpointId(1), Interface: { Address: '10.33.0.1/24' } }, expired);
    expect(reply).to.deep.equal({});
    expect(store.endpoints()).to.deep.equal([]);
    expect([...datapath.links.keys()].filter((n) => n.startsWith('vethw'))).to.deep.equal([]);
  });

  it('keeps an endpoint that existed before the late repeat', async () => {
    await driver.createNetwork(network);
    const req = { NetworkID: networkId(1), EndpointID: endpointId(1), Interface: { Address: '10.33.0.1/24' } };
    const first = await driver.createEndpoint(req);
    expect(await driver.createEndpoint(req, expired)).to.deep.equal(first);
    expect(store.endpoints()).to.have.length(1);
  });
});
