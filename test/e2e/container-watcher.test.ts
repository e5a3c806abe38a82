// The container watcher against a real dockerd: a lab host runs our daemon (so weave networks
// work), and a ContainerWatcher in this test process follows that host's Engine API through the
// socket the lab exposes to the root ns.
import { expect } from 'chai';
import { createRootLogger } from '../../common/logger.ts';
import type { ContainerInfo } from '../../daemon/container-info.ts';
import { ContainerWatcher } from '../../daemon/container-watcher.ts';
import { DockerClient } from '../../daemon/docker-client.ts';
import { ipInCidr } from '../harness/ipv4.ts';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { requireBuiltCli } from '../harness/repo-root.ts';
import { requireRoot } from '../harness/require-root.ts';
import { waitFor } from '../harness/wait.ts';
import { containerEndpoint, containerEndpoints, daemonLogTail, launchWeave, waitForDockerNetwork } from '../harness/weave-probes.ts';

const APP_SUBNET = '10.44.0.0/24';
const APP2_SUBNET = '10.45.0.0/24';

/** Starts a sleeper; --stop-timeout 1 because sleep ignores SIGTERM and would hold up the engine
 *  restart for 10 s. Returns the full container ID. */
async function run(h: LabHost, name: string, ...args: string[]): Promise<string> {
  return (await h.docker('run', '-d', '--stop-timeout', '1', '--name', name, ...args, 'bb', 'sleep', '3600')).stdout.trim();
}

/** docker_gwbridge's address of a container: Docker lists it only in the network's inspect. */
async function gwbridgeIp(h: LabHost, id: string): Promise<string> {
  const out = (await h.docker('network', 'inspect', '-f', '{{json .Containers}}', 'docker_gwbridge')).stdout;
  const containers = JSON.parse(out) as Record<string, { IPv4Address: string }>;
  const addr = containers[id]?.IPv4Address;
  if (!addr) throw new Error(`${id} has no docker_gwbridge endpoint`);
  return addr.split('/')[0]!;
}

function net(info: ContainerInfo | undefined, name: string) {
  return info?.networks.find((n) => n.networkName === name);
}

describe('container watcher: follows a real dockerd (root)', function () {
  this.timeout(120_000);
  let lab: Lab | undefined;
  let h: LabHost;
  let watcher: ContainerWatcher | undefined;
  const upserts: { at: number; info: ContainerInfo }[] = [];
  const removes: { at: number; id: string }[] = [];
  let preId = '';

  before(async function () {
    requireRoot('the container watcher end-to-end suite');
    requireBuiltCli();
    lab = await Lab.up({ hosts: 1 });
    h = lab.host(1);
    await launchWeave(h);
    await waitForDockerNetwork(h, 'weave');
    await h.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', '--subnet', APP_SUBNET, 'app');
    // running before the watcher starts: found by the first listing, not by an event
    preId = await run(h, 'pre', '--network', 'app');
    watcher = new ContainerWatcher({
      docker: new DockerClient(h.dockerSocket),
      logger: createRootLogger({ level: 'warn', defaultMeta: { component: 'container-watcher' } }),
      firstDelayMs: 200,
      maxDelayMs: 1_000,
    });
    watcher.addListener({
      onUpsert: (info) => upserts.push({ at: performance.now(), info }),
      onRemove: (id) => removes.push({ at: performance.now(), id }),
    });
    await watcher.start();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && lab) {
      console.log(`--- ${h.name} weave.log (tail)\n${daemonLogTail(h)}`);
      console.log(`--- watcher view\n${JSON.stringify(watcher?.all(), null, 2)}`);
    }
  });

  after(async function () {
    await watcher?.stop();
    await lab?.down();
  });

  it('lists the containers already running when it connects', async function () {
    const info = await waitFor(() => watcher!.get(preId), { timeoutMs: 15_000, what: 'the pre-existing container in the view' });
    expect(info.name).to.equal('pre');
    expect(watcher!.connected).to.equal(true);
    expect(watcher!.syncs).to.equal(1);
  });

  it('upserts a started container with its name, hostname, aliases and weave and docker_gwbridge addresses', async function () {
    const id = await run(h, 'web', '--hostname', 'webhost', '--network', 'app', '--network-alias', 'www', '--network-alias', 'front');
    const info = await waitFor(() => (net(watcher!.get(id), 'docker_gwbridge') ? watcher!.get(id) : undefined), { timeoutMs: 5_000, what: 'web in the view with both networks' });
    const weaveIp = (await containerEndpoint(h, 'web', 'app')).IPAddress;
    const gwIp = await gwbridgeIp(h, id);
    // Docker 20.10's quirk that the watcher covers: the container's own inspect omits the bridge
    expect((await containerEndpoints(h, 'web')).map((e) => e.network)).to.deep.equal(['app']);

    expect(info).to.include({ id, name: 'web', hostname: 'webhost', domainname: '' });
    const app = net(info, 'app')!;
    expect(app).to.include({ driver: 'weave', ipv4: weaveIp });
    expect(app.subnets).to.deep.equal([APP_SUBNET]);
    expect(ipInCidr(app.ipv4, APP_SUBNET)).to.equal(true);
    expect(app.aliases).to.include.members(['www', 'front']);
    expect(app.aliases).to.not.include(id.slice(0, 12));
    expect(app.endpointId).to.match(/^[0-9a-f]{64}$/);
    const gw = net(info, 'docker_gwbridge')!;
    expect(gw).to.include({ driver: 'bridge', ipv4: gwIp });
    expect(gw.subnets).to.have.length(1);

    expect(watcher!.weaveNetworks(info).map((n) => n.networkName)).to.deep.equal(['app']);
    expect(watcher!.byIp(weaveIp)?.id).to.equal(id);
    expect(watcher!.byIp(gwIp)?.id).to.equal(id);
    expect(watcher!.byIp('10.99.99.99')).to.equal(undefined);
    expect(watcher!.all().map((c) => c.id)).to.include.members([preId, id]);
    expect(upserts.some((u) => u.info.id === id)).to.equal(true);
  });

  it('follows docker network connect and disconnect', async function () {
    await h.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', '--subnet', APP2_SUBNET, 'app2');
    await h.docker('network', 'connect', '--alias', 'extra', 'app2', 'web');
    const id = (await h.docker('inspect', '-f', '{{.Id}}', 'web')).stdout.trim();
    const app2 = await waitFor(() => net(watcher!.get(id), 'app2'), { timeoutMs: 5_000, what: 'web on app2 in the view' });
    expect(app2.ipv4).to.equal((await containerEndpoint(h, 'web', 'app2')).IPAddress);
    expect(ipInCidr(app2.ipv4, APP2_SUBNET)).to.equal(true);
    expect(app2.aliases).to.include('extra');
    expect(watcher!.byIp(app2.ipv4)?.id).to.equal(id);
    expect(watcher!.weaveNetworks(watcher!.get(id)!).map((n) => n.networkName)).to.deep.equal(['app', 'app2']);

    await h.docker('network', 'disconnect', 'app2', 'web');
    await waitFor(() => !net(watcher!.get(id), 'app2'), { timeoutMs: 5_000, what: 'web off app2 in the view' });
    expect(watcher!.byIp(app2.ipv4)).to.equal(undefined);
    expect(net(watcher!.get(id), 'app')).to.not.equal(undefined);
  });

  it('follows docker rename', async function () {
    const id = (await h.docker('inspect', '-f', '{{.Id}}', 'web')).stdout.trim();
    await h.docker('rename', 'web', 'web2');
    await waitFor(() => watcher!.get(id)?.name === 'web2', { timeoutMs: 5_000, what: 'the new name in the view' });
  });

  it('removes a container within 2 s of docker rm -f', async function () {
    const id = (await h.docker('inspect', '-f', '{{.Id}}', 'web2')).stdout.trim();
    const gwIp = net(watcher!.get(id), 'docker_gwbridge')!.ipv4;
    await h.docker('rm', '-f', 'web2');
    const done = performance.now();
    await waitFor(() => removes.some((r) => r.id === id), { timeoutMs: 2_000, what: 'onRemove for web2' });
    expect(removes.find((r) => r.id === id)!.at - done).to.be.below(2_000);
    expect(watcher!.get(id)).to.equal(undefined);
    expect(watcher!.byIp(gwIp)).to.equal(undefined);
  });

  it('reconnects after a dockerd restart and lists again, so containers started meanwhile are seen', async function () {
    // dockerd itself starts a restart=always container while its API is not served yet: that
    // start can only be learnt by listing again after reconnecting
    const keeperId = await run(h, 'keeper', '--restart', 'always', '--network', 'app');
    const before = await waitFor(() => net(watcher!.get(keeperId), 'app'), { timeoutMs: 5_000, what: 'keeper in the view' });
    const syncs = watcher!.syncs;
    const restartedAt = performance.now();
    await h.restartEngine();
    const lateId = await run(h, 'late', '--network', 'app');

    await waitFor(() => watcher!.connected && watcher!.syncs > syncs, { timeoutMs: 30_000, what: 'the watcher to reconnect and list again' });
    const keeper = await waitFor(() => {
      const app = net(watcher!.get(keeperId), 'app');
      return app && app.endpointId !== before.endpointId ? app : undefined;
    }, { timeoutMs: 10_000, what: 'keeper with its new endpoint after the restart' });
    expect(keeper.ipv4).to.equal((await containerEndpoint(h, 'keeper', 'app')).IPAddress);
    expect(upserts.some((u) => u.info.id === keeperId && u.at > restartedAt)).to.equal(true);
    const late = await waitFor(() => watcher!.get(lateId), { timeoutMs: 10_000, what: 'late in the view' });
    expect(watcher!.byIp(await gwbridgeIp(h, lateId))?.id).to.equal(late.id);
    // the pre-existing container stopped with dockerd and has no restart policy
    await waitFor(() => watcher!.get(preId) === undefined, { timeoutMs: 5_000, what: 'pre gone from the view' });
  });
});
