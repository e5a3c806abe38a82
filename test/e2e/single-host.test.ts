// The single-host foundation, end to end: a lab host with a real dockerd, our daemon launched in
// it with `weave launch`, and Docker driving our plugin for real.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { pidAlive } from '../harness/host-processes.ts';
import { cidrWithin, ipInCidr } from '../harness/ipv4.ts';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { callPlugin } from '../harness/plugin-client.ts';
import { requireBuiltCli } from '../harness/repo-root.ts';
import { requireRoot } from '../harness/require-root.ts';
import { sleep, waitFor } from '../harness/wait.ts';
import {
  PLUGIN_SOCKET, containerEndpoint, daemonLogTail, dockerNetwork, dockerNetworkNames, hostVeths, launchWeave,
  linkInfo, pingFrom, pluginSocketFromRoot, stateFiles, waitForDockerNetwork, weaveStatus,
} from '../harness/weave-probes.ts';
import type { WeaveStatus } from '../harness/weave-status.ts';

const DEFAULT_SUBNET = '10.32.0.0/16';
const IPALLOC_RANGE = '10.32.0.0/12';
const MTU = 1376;

/** The parts of the status that describe networks, endpoints and allocations (not the clock,
 *  the last reconcile or whether this run created the default network or found it). */
function stateOf(st: WeaveStatus): unknown {
  const byId = <T extends { id: string }>(xs: T[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id));
  return {
    networks: byId(st.plugin.networks),
    endpoints: st.plugin.endpoints,
    pools: [...st.ipam.pools].sort((a, b) => a.poolId.localeCompare(b.poolId))
      .map((p) => ({ ...p, addresses: [...p.addresses].sort() })),
  };
}

function poolAddresses(st: WeaveStatus, subnet: string): string[] {
  return st.ipam.pools.filter((p) => p.subnet === subnet).flatMap((p) => p.addresses).map((a) => a.split('/')[0]!);
}

async function runSleeper(h: LabHost, name: string, network: string): Promise<void> {
  await h.docker('run', '-d', '--name', name, '--network', network, 'bb', 'sleep', '3600');
}

async function removeContainers(h: LabHost, names: string[]): Promise<void> {
  if (names.length) await h.tryDocker(['rm', '-f', ...names]);
}

describe('single host: weave daemon under a real dockerd (root)', function () {
  this.timeout(60_000);
  let lab: Lab | undefined;
  let h: LabHost;
  let daemonPid = 0;

  before(async function () {
    requireRoot('the single-host end-to-end suite');
    requireBuiltCli();
    lab = await Lab.up({ hosts: 1 });
    h = lab.host(1);
    daemonPid = await launchWeave(h);
    await waitForDockerNetwork(h, 'weave');
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && lab) {
      console.log(`--- ${h.name} weave.log (tail)\n${daemonLogTail(h)}`);
    }
  });

  after(async function () {
    await lab?.down();
  });

  it('launches: PID printed and in the PID file, status answers, bridge and default network exist', async function () {
    expect(pidAlive(daemonPid)).to.equal(true);
    expect(readFileSync(join(h.files.weaveData, 'weave.pid'), 'utf8').trim()).to.equal(String(daemonPid));
    const st = await weaveStatus(h);
    expect(st.pid).to.equal(daemonPid);
    expect(st.dataDir).to.equal('/var/lib/weave');
    expect(st.bridge).to.include({ name: 'weave', mtu: MTU, up: true });
    expect(st.plugin.socket).to.equal(PLUGIN_SOCKET);
    expect(st.ipam.range).to.equal(IPALLOC_RANGE);
    expect(st.ipam.defaultSubnet).to.equal(DEFAULT_SUBNET);
    expect(['created', 'exists']).to.include(st.defaultNetwork.state);
    const net = await dockerNetwork(h, 'weave');
    expect(net.Driver).to.equal('weave');
    expect(net.IPAM.Driver).to.equal('weave');
    expect(net.IPAM.Config.map((c) => c.Subnet)).to.deep.equal([DEFAULT_SUBNET]);
    expect(st.plugin.networks.map((n) => n.id)).to.include(net.Id);
    const bridge = await linkInfo(h, 'weave');
    expect(bridge.mtu).to.equal(MTU);
    const text = await h.weave('status');
    expect(text.stdout).to.match(/weave/i);
    expect(text.stdout.trim().startsWith('{')).to.equal(false);
  });

  it('refuses `docker network create -d weave` without weave IPAM, naming the fix', async function () {
    const before = stateOf(await weaveStatus(h));
    const r = await h.tryDocker(['network', 'create', '-d', 'weave', 'net-x']);
    expect(r.code).to.not.equal(0);
    expect(r.stdout + r.stderr).to.include('--ipam-driver weave');
    expect(await dockerNetworkNames(h)).to.not.include('net-x');
    expect(stateOf(await weaveStatus(h))).to.deep.equal(before);
  });

  it('connects containers on `weave` and on a custom network with addresses from our IPAM, and leaves nothing behind', async function () {
    const names = ['w1', 'w2', 'a1', 'a2'];
    const baseline = await weaveStatus(h);
    const baselineVeths = await hostVeths(h);
    try {
      await h.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', 'app');
      const app = await dockerNetwork(h, 'app');
      const appSubnet = app.IPAM.Config[0]?.Subnet;
      expect(appSubnet, 'subnet of network app').to.be.a('string');
      expect(cidrWithin(appSubnet!, IPALLOC_RANGE), `${appSubnet} within ${IPALLOC_RANGE}`).to.equal(true);
      expect(cidrWithin(appSubnet!, DEFAULT_SUBNET) || cidrWithin(DEFAULT_SUBNET, appSubnet!), 'app overlaps weave').to.equal(false);

      await Promise.all([runSleeper(h, 'w1', 'weave'), runSleeper(h, 'w2', 'weave'), runSleeper(h, 'a1', 'app'), runSleeper(h, 'a2', 'app')]);
      const eps = {
        w1: await containerEndpoint(h, 'w1', 'weave'), w2: await containerEndpoint(h, 'w2', 'weave'),
        a1: await containerEndpoint(h, 'a1', 'app'), a2: await containerEndpoint(h, 'a2', 'app'),
      };
      const st = await weaveStatus(h);
      for (const [name, ep] of Object.entries(eps)) {
        const subnet = name.startsWith('w') ? DEFAULT_SUBNET : appSubnet!;
        expect(ipInCidr(ep.IPAddress, subnet), `${name} ${ep.IPAddress} in ${subnet}`).to.equal(true);
        expect(poolAddresses(st, subnet), `${name}'s address in the IPAM pool of ${subnet}`).to.include(ep.IPAddress);
        const inside = (await h.docker('exec', name, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0')).stdout;
        expect(inside, `${name} eth0`).to.include(`${ep.IPAddress}/${ep.IPPrefixLen}`);
        expect((await h.docker('exec', name, 'cat', '/sys/class/net/eth0/mtu')).stdout.trim()).to.equal(String(MTU));
        const veth = await linkInfo(h, `vethwl${ep.EndpointID.slice(0, 9)}`);
        expect(veth.master, `${veth.name} enslaved to the bridge`).to.equal('weave');
        expect(veth.mtu, `${veth.name} MTU`).to.equal(MTU);
        expect(veth.up, `${veth.name} up`).to.equal(true);
      }
      expect(st.plugin.endpoints).to.equal(baseline.plugin.endpoints + 4);
      expect(st.plugin.networks.map((n) => n.id)).to.include(app.Id);

      expect(await pingFrom(h, 'w1', eps.w2.IPAddress), 'w1 -> w2').to.equal(true);
      expect(await pingFrom(h, 'w2', eps.w1.IPAddress), 'w2 -> w1').to.equal(true);
      expect(await pingFrom(h, 'a1', eps.a2.IPAddress), 'a1 -> a2').to.equal(true);
      expect(await pingFrom(h, 'a2', eps.a1.IPAddress), 'a2 -> a1').to.equal(true);

      await h.docker('rm', '-f', ...names);
      await h.docker('network', 'rm', 'app');
      expect(await hostVeths(h), 'vethwl* links after removal').to.deep.equal(baselineVeths);
      const after = await weaveStatus(h);
      expect(stateOf(after)).to.deep.equal(stateOf(baseline));
      const allFiles = [...stateFiles(h).values()].join('\n');
      for (const id of [app.Id, ...Object.values(eps).map((e) => e.EndpointID)]) {
        expect(allFiles, `state files still mention ${id}`).to.not.include(id);
      }
    } finally {
      await removeContainers(h, names);
      await h.tryDocker(['network', 'rm', 'app']);
    }
  });

  it('connects a running container to a second weave network and disconnects it again', async function () {
    const names = ['m1', 'm2'];
    const baseline = await weaveStatus(h);
    const baselineVeths = await hostVeths(h);
    try {
      await h.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', 'second');
      await runSleeper(h, 'm1', 'weave');
      await runSleeper(h, 'm2', 'second');
      const connect = await h.tryDocker(['network', 'connect', 'second', 'm1']);
      expect(connect.code, `docker network connect second m1: ${connect.stderr.trim()}`).to.equal(0);
      const m1 = await containerEndpoint(h, 'm1', 'second');
      const m2 = await containerEndpoint(h, 'm2', 'second');
      const addrs = (await h.docker('exec', 'm1', 'ip', '-o', '-4', 'addr')).stdout;
      expect(addrs, 'm1 has both addresses').to.include(`${m1.IPAddress}/`).and.to.include(`${(await containerEndpoint(h, 'm1', 'weave')).IPAddress}/`);
      expect(await pingFrom(h, 'm1', m2.IPAddress), 'm1 -> m2 over the second network').to.equal(true);
      expect(await pingFrom(h, 'm2', m1.IPAddress), 'm2 -> m1 over the second network').to.equal(true);
      await h.docker('network', 'disconnect', 'second', 'm1');
      expect(await hostVeths(h)).to.not.include(`vethwl${m1.EndpointID.slice(0, 9)}`);
      const secondSubnet = (await dockerNetwork(h, 'second')).IPAM.Config[0]?.Subnet ?? '';
      expect(poolAddresses(await weaveStatus(h), secondSubnet)).to.not.include(m1.IPAddress);
      await h.docker('rm', '-f', ...names);
      await h.docker('network', 'rm', 'second');
      expect(await hostVeths(h)).to.deep.equal(baselineVeths);
      expect(stateOf(await weaveStatus(h))).to.deep.equal(stateOf(baseline));
    } finally {
      await removeContainers(h, names);
      await h.tryDocker(['network', 'rm', 'second']);
    }
  });

  it('leaks no link, address or endpoint over 50 sequential `docker run --rm`', async function () {
    this.timeout(150_000);
    const baseline = stateOf(await weaveStatus(h));
    const baselineVeths = await hostVeths(h);
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) {
      const r = await h.tryDocker(['run', '--rm', '--network', 'weave', 'bb', 'true'], { timeoutMs: 30_000 });
      expect(r.code, `run #${i + 1}: ${r.stderr}`).to.equal(0);
    }
    const took = performance.now() - t0;
    console.log(`      50 x docker run --rm --network weave: ${(took / 1000).toFixed(1)} s (${(took / 50).toFixed(0)} ms each)`);
    await waitFor(async () => (await hostVeths(h)).length === baselineVeths.length, { timeoutMs: 5000, what: 'veths back to baseline' })
      .catch(() => undefined);
    expect(await hostVeths(h)).to.deep.equal(baselineVeths);
    expect(stateOf(await weaveStatus(h))).to.deep.equal(baseline);
  });

  it('survives kill -9 and relaunch: state kept, traffic uninterrupted, new containers and removals work', async function () {
    this.timeout(90_000);
    const names = ['p1', 'p2', 'p3'];
    try {
      await Promise.all([runSleeper(h, 'p1', 'weave'), runSleeper(h, 'p2', 'weave')]);
      const p1 = await containerEndpoint(h, 'p1', 'weave');
      const p2 = await containerEndpoint(h, 'p2', 'weave');
      const before = await weaveStatus(h);
      const beforeVeths = await hostVeths(h);

      // p1 pings p2 every 100 ms across the whole kill/restart; replies are numbered by seq
      await h.docker('exec', '-d', 'p1', 'sh', '-c', `ping -i 0.1 ${p2.IPAddress} >/tmp/ping.log 2>&1 & echo $! >/tmp/ping.pid; wait`);
      const replies = async (): Promise<number[]> =>
        [...(await h.docker('exec', 'p1', 'cat', '/tmp/ping.log')).stdout.matchAll(/seq=(\d+)/g)].map((m) => Number(m[1]));
      await waitFor(async () => (await replies()).length >= 5, { timeoutMs: 10_000, what: 'first ping replies' });

      const oldPid = before.pid;
      process.kill(oldPid, 'SIGKILL');
      await waitFor(() => !pidAlive(oldPid), { timeoutMs: 5000, what: 'the daemon to die' });
      const down = await h.tryWeave(['status', '--json'], { timeoutMs: 10_000 });
      expect(down.code, 'status while the daemon is dead').to.not.equal(0);
      const duringDown = (await replies()).length;
      await sleep(1000);
      expect((await replies()).length, 'replies while the daemon is down').to.be.greaterThan(duringDown + 5);

      daemonPid = await launchWeave(h);
      expect(daemonPid).to.not.equal(oldPid);
      const after = await weaveStatus(h);
      expect(after.pid).to.equal(daemonPid);
      expect(stateOf(after), 'networks, endpoints and allocations after the restart').to.deep.equal(stateOf(before));
      expect(await hostVeths(h)).to.deep.equal(beforeVeths);
      await sleep(1000);

      await h.docker('exec', 'p1', 'sh', '-c', 'kill -INT $(cat /tmp/ping.pid)');
      await sleep(200);
      const seqs = await replies();
      const max = Math.max(...seqs);
      const missing = Array.from({ length: max + 1 }, (_, i) => i).filter((i) => !seqs.includes(i));
      expect(missing, `lost pings (of ${max + 1})`).to.deep.equal([]);
      expect(max, 'pings sent across the restart').to.be.greaterThan(20);

      await runSleeper(h, 'p3', 'weave');
      const p3 = await containerEndpoint(h, 'p3', 'weave');
      expect(poolAddresses(await weaveStatus(h), DEFAULT_SUBNET)).to.include(p3.IPAddress);
      expect(await pingFrom(h, 'p3', p1.IPAddress), 'new container p3 -> p1').to.equal(true);
      expect(await pingFrom(h, 'p1', p3.IPAddress), 'p1 -> new container p3').to.equal(true);

      await h.docker('rm', '-f', ...names);
      const end = await weaveStatus(h);
      expect(end.plugin.endpoints).to.equal(before.plugin.endpoints - 2);
      for (const ep of [p1, p2, p3]) {
        expect(poolAddresses(end, DEFAULT_SUBNET)).to.not.include(ep.IPAddress);
        expect(await hostVeths(h)).to.not.include(`vethwl${ep.EndpointID.slice(0, 9)}`);
      }
    } finally {
      await removeContainers(h, names);
    }
  });

  it('gives concurrent `docker run`s distinct addresses that reach each other', async function () {
    const names = Array.from({ length: 10 }, (_, i) => `c${i}`);
    const baseline = stateOf(await weaveStatus(h));
    try {
      await Promise.all(names.map((n) => runSleeper(h, n, 'weave')));
      const ips = await Promise.all(names.map(async (n) => (await containerEndpoint(h, n, 'weave')).IPAddress));
      expect(new Set(ips).size, `addresses ${ips.join(' ')}`).to.equal(names.length);
      const pool = poolAddresses(await weaveStatus(h), DEFAULT_SUBNET);
      for (const ip of ips) expect(pool).to.include(ip);
      expect(await pingFrom(h, 'c0', ips[9]!), 'c0 -> c9').to.equal(true);
      expect(await pingFrom(h, 'c9', ips[0]!), 'c9 -> c0').to.equal(true);
      await h.docker('rm', '-f', ...names);
      expect(stateOf(await weaveStatus(h))).to.deep.equal(baseline);
    } finally {
      await removeContainers(h, names);
    }
  });

  it('stays consistent when killed -9 amid concurrent `docker run`s', async function () {
    this.timeout(180_000);
    const names = Array.from({ length: 8 }, (_, i) => `k${i}`);
    const baseline = await weaveStatus(h);
    const baselineVeths = await hostVeths(h);
    try {
      // staggered, so some requests are in flight when the daemon dies and some arrive while it is gone
      const runs = names.map((n, i) => sleep(i * 60).then(() =>
        h.tryDocker(['run', '-d', '--name', n, '--network', 'weave', 'bb', 'sleep', '3600'], { timeoutMs: 60_000 })));
      await sleep(200);
      const oldPid = daemonPid;
      process.kill(oldPid, 'SIGKILL');
      await waitFor(() => !pidAlive(oldPid), { timeoutMs: 5000, what: 'the daemon to die' });
      await sleep(1000);
      daemonPid = await launchWeave(h);
      const results = await Promise.all(runs);
      // a run may fail (Docker retries a request the dead daemon had read with an empty body),
      // but it must not hang, and what exists afterwards must agree everywhere
      for (const r of results) expect(r.timedOut, `docker run hung: ${r.command}`).to.equal(false);
      const running = (await h.docker('ps', '--filter', 'network=weave', '--format', '{{.Names}}')).stdout.split('\n').filter((n) => names.includes(n));
      const eps = await Promise.all(running.map((n) => containerEndpoint(h, n, 'weave')));
      const st = await weaveStatus(h);
      expect(st.plugin.endpoints, `endpoints for ${running.length} running containers`).to.equal(baseline.plugin.endpoints + running.length);
      expect(await hostVeths(h)).to.deep.equal([...baselineVeths, ...eps.map((e) => `vethwl${e.EndpointID.slice(0, 9)}`)].sort());
      // an address the dead daemon stored but never answered for (Docker retried and got another)
      // is released once the restart's grace for retried calls is over (plugin-server.ts)
      const wanted = [...poolAddresses(baseline, DEFAULT_SUBNET), ...eps.map((e) => e.IPAddress)].sort();
      const settled = await waitFor(async () => {
        const now = poolAddresses(await weaveStatus(h), DEFAULT_SUBNET).sort();
        return JSON.stringify(now) === JSON.stringify(wanted) ? now : undefined;
      }, { timeoutMs: 60_000, intervalMs: 1000, what: 'the pool to hold exactly the running endpoints' }).catch(async () => poolAddresses(await weaveStatus(h), DEFAULT_SUBNET).sort());
      expect(settled).to.deep.equal(wanted);
      if (eps.length >= 2) expect(await pingFrom(h, running[0]!, eps[eps.length - 1]!.IPAddress)).to.equal(true);
      const failed = results.filter((r) => r.code !== 0).map((r) => r.stderr.trim().split('\n')[0]);
      if (failed.length) console.log(`      ${failed.length} of ${names.length} runs failed across the kill: ${failed.join(' | ')}`);
      await h.tryDocker(['rm', '-f', ...names]);
      expect(await hostVeths(h)).to.deep.equal(baselineVeths);
      expect(stateOf(await weaveStatus(h))).to.deep.equal(stateOf(baseline));
    } finally {
      await removeContainers(h, names);
    }
  });

  it('answers garbage, empty, wrong-typed and oversized bodies on every plugin method with an error, state unchanged', async function () {
    this.timeout(60_000);
    const socket = pluginSocketFromRoot(h);
    // some state to protect: a custom network with a container on it
    await h.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', 'fuzz');
    let fuzzNetId: string | undefined;
    try {
      await runSleeper(h, 'f1', 'fuzz');
      const fuzzNet = await dockerNetwork(h, 'fuzz');
      fuzzNetId = fuzzNet.Id;
      const f1 = await containerEndpoint(h, 'f1', 'fuzz');
      const fuzzPool = (await weaveStatus(h)).ipam.pools.find((p) => p.subnet === fuzzNet.IPAM.Config[0]?.Subnet)?.poolId;
      expect(fuzzPool, 'pool of network fuzz in the status').to.be.a('string');
      const statusBefore = stateOf(await weaveStatus(h));
      const filesBefore = stateFiles(h);
      const veths = await hostVeths(h);

      const withArgs = [
        'NetworkDriver.GwAllocCheck', 'NetworkDriver.CreateNetwork', 'NetworkDriver.DeleteNetwork',
        'NetworkDriver.CreateEndpoint', 'NetworkDriver.EndpointOperInfo', 'NetworkDriver.DeleteEndpoint',
        'NetworkDriver.Join', 'NetworkDriver.Leave', 'NetworkDriver.ProgramExternalConnectivity',
        'NetworkDriver.RevokeExternalConnectivity', 'NetworkDriver.DiscoverNew', 'NetworkDriver.DiscoverDelete',
        'NetworkDriver.AllocateNetwork', 'NetworkDriver.FreeNetwork',
        'IpamDriver.RequestPool', 'IpamDriver.ReleasePool', 'IpamDriver.RequestAddress', 'IpamDriver.ReleaseAddress',
      ];
      // Docker sends these with an empty body (no arguments) and reads the reply
      const noArgs = ['Plugin.Activate', 'NetworkDriver.GetCapabilities', 'IpamDriver.GetCapabilities', 'IpamDriver.GetDefaultAddressSpaces'];

      const wrongTyped = JSON.stringify({
        NetworkID: 42, EndpointID: ['x'], PoolID: { a: 1 }, Address: 7, Pool: 1, SubPool: true, AddressSpace: 3, V6: 'yes',
        Options: 'x', Interface: 'eth0', IPv4Data: 'x', IPv6Data: 5, SandboxKey: 9, DiscoveryType: 'x', DiscoveryData: 1,
      });
      const deep = '['.repeat(20_000) + ']'.repeat(20_000);
      const bodies: Record<string, string | Buffer> = {
        'garbage text': '{{{ this is not json',
        'binary garbage': Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff)),
        'xml': '<Request><NetworkID>x</NetworkID></Request>',
        'empty': '',
        'null': 'null',
        'array': '[]',
        'string': '"NetworkID"',
        'number': '42',
        'wrong-typed fields': wrongTyped,
        'deeply nested': deep,
        'oversized (5 MB)': JSON.stringify({ NetworkID: 'a'.repeat(5 * 1024 * 1024), PoolID: 'b' }),
      };

      const problems: string[] = [];
      const isErrorReply = (status: number, json: unknown): boolean =>
        [400, 413, 500].includes(status) && typeof json === 'object' && json !== null &&
        typeof (json as { Err?: unknown }).Err === 'string' && (json as { Err: string }).Err.length > 0;

      for (const method of withArgs) {
        for (const [what, body] of Object.entries(bodies)) {
          const r = await callPlugin(socket, method, body).catch((e: Error) => ({ status: -1, body: e.message, json: undefined }));
          if (!isErrorReply(r.status, r.json)) problems.push(`${method} ${what}: ${r.status} ${r.body.slice(0, 200)}`);
        }
      }
      for (const method of noArgs) {
        for (const [what, body] of Object.entries(bodies)) {
          const r = await callPlugin(socket, method, body).catch((e: Error) => ({ status: -1, body: e.message, json: undefined }));
          const fine = (r.status === 200 && typeof r.json === 'object' && r.json !== null && !('Err' in r.json)) || isErrorReply(r.status, r.json);
          const mustSucceed = what === 'empty';
          if (!fine || (mustSucceed && r.status !== 200)) problems.push(`${method} ${what}: ${r.status} ${r.body.slice(0, 200)}`);
        }
      }
      // nearly valid: real IDs, one field of the wrong type or out of shape, so a handler that
      // validates only part of its body would act on the real network, endpoint or pool
      const net = fuzzNet.Id;
      const ep = f1.EndpointID;
      const nearlyValid: [string, unknown][] = [
        ['NetworkDriver.CreateNetwork', { NetworkID: 'f'.repeat(64), Options: {}, IPv4Data: 'x', IPv6Data: [] }],
        ['NetworkDriver.CreateNetwork', { NetworkID: 'f'.repeat(64), Options: {}, IPv4Data: [{ AddressSpace: 'weavelocal', Pool: 'not-a-cidr', Gateway: 5 }], IPv6Data: [] }],
        ['NetworkDriver.DeleteNetwork', { NetworkID: [net] }],
        ['NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: 'e'.repeat(64), Interface: { Address: 5 }, Options: {} }],
        ['NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: 'e'.repeat(64), Interface: { Address: 'garbage/77' }, Options: {} }],
        ['NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: ep, Interface: { Address: 7 }, Options: {} }],
        ['NetworkDriver.DeleteEndpoint', { NetworkID: net, EndpointID: 7 }],
        ['NetworkDriver.DeleteEndpoint', { NetworkID: 7, EndpointID: ep }],
        ['NetworkDriver.Join', { NetworkID: net, EndpointID: ep, SandboxKey: 5, Options: {} }],
        ['NetworkDriver.Leave', { NetworkID: net, EndpointID: {} }],
        ['NetworkDriver.EndpointOperInfo', { NetworkID: net, EndpointID: [ep] }],
        ['IpamDriver.RequestPool', { AddressSpace: 'weavelocal', Pool: 5, SubPool: '', Options: {}, V6: false }],
        ['IpamDriver.RequestPool', { AddressSpace: 'weavelocal', Pool: '10.33.0.0/99', SubPool: '', Options: {}, V6: false }],
        ['IpamDriver.ReleasePool', { PoolID: 5 }],
        ['IpamDriver.RequestAddress', { PoolID: fuzzPool, Address: 5, Options: {} }],
        ['IpamDriver.RequestAddress', { PoolID: fuzzPool, Address: '10.33.999.1', Options: {} }],
        ['IpamDriver.ReleaseAddress', { PoolID: fuzzPool, Address: [f1.IPAddress] }],
        ['IpamDriver.ReleaseAddress', { PoolID: fuzzPool, Address: 'not-an-ip' }],
      ];
      for (const [method, body] of nearlyValid) {
        const text = JSON.stringify(body);
        const r = await callPlugin(socket, method, text).catch((e: Error) => ({ status: -1, body: e.message, json: undefined }));
        if (!isErrorReply(r.status, r.json)) problems.push(`${method} ${text.slice(0, 120)}: ${r.status} ${r.body.slice(0, 200)}`);
      }
      const unknown = await callPlugin(socket, 'NetworkDriver.NoSuchMethod', '{}');
      if (unknown.status !== 404 || typeof (unknown.json as { Err?: unknown } | undefined)?.Err !== 'string') {
        problems.push(`unknown method: ${unknown.status} ${unknown.body.slice(0, 200)}`);
      }
      const activate = await callPlugin(socket, 'Plugin.Activate', '');
      expect(activate.json).to.deep.equal({ Implements: ['NetworkDriver', 'IpamDriver'] });

      // state checks go into the same list, so one run reports every kind of damage at once
      if (!pidAlive(daemonPid)) problems.push(`daemon (pid ${daemonPid}) died`);
      const st = await weaveStatus(h);
      if (st.pid !== daemonPid) problems.push(`daemon pid changed: ${daemonPid} -> ${st.pid}`);
      const statusAfter = stateOf(st);
      if (JSON.stringify(statusAfter) !== JSON.stringify(statusBefore)) {
        problems.push(`status changed:\n  before ${JSON.stringify(statusBefore)}\n  after  ${JSON.stringify(statusAfter)}`);
      }
      const filesAfter = stateFiles(h);
      for (const name of new Set([...filesBefore.keys(), ...filesAfter.keys()])) {
        if (filesBefore.get(name) !== filesAfter.get(name)) {
          problems.push(`state file ${name} changed:\n  before ${filesBefore.get(name) ?? '(none)'}\n  after  ${filesAfter.get(name) ?? '(none)'}`);
        }
      }
      const vethsAfter = await hostVeths(h);
      if (vethsAfter.join() !== veths.join()) problems.push(`veths changed: ${veths.join()} -> ${vethsAfter.join()}`);
      expect(problems, 'non-error replies and state changes').to.deep.equal([]);

      // and it still serves Docker
      await runSleeper(h, 'f2', 'fuzz');
      expect(await pingFrom(h, 'f2', (await containerEndpoint(h, 'f1', 'fuzz')).IPAddress)).to.equal(true);
    } finally {
      await removeContainers(h, ['f1', 'f2']);
      // an endpoint the plugin wrongly accepted above would block removing the network
      if (fuzzNetId) await callPlugin(socket, 'NetworkDriver.DeleteEndpoint', JSON.stringify({ NetworkID: fuzzNetId, EndpointID: 'e'.repeat(64) })).catch(() => undefined);
      await h.tryDocker(['network', 'rm', 'fuzz']);
    }
  });

  it('keeps serving Docker while clients stall mid-request or flood it with bad requests', async function () {
    const socket = pluginSocketFromRoot(h);
    const stalled: Socket[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const body = connect(socket);
        body.on('error', () => undefined);
        body.write('POST /NetworkDriver.CreateEndpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"NetworkID":');
        const head = connect(socket);
        head.on('error', () => undefined);
        head.write('POST /IpamDriver.RequestPool HTT');
        stalled.push(body, head);
      }
      const flood = Promise.all(Array.from({ length: 200 }, () => callPlugin(socket, 'IpamDriver.RequestAddress', '{"PoolID": 5}')));
      const t0 = performance.now();
      const activate = await callPlugin(socket, 'Plugin.Activate', '');
      expect(activate.status).to.equal(200);
      expect(performance.now() - t0, 'Plugin.Activate latency (ms) beside stalled clients').to.be.below(2000);
      await h.docker('run', '--rm', '--network', 'weave', 'bb', 'true');
      expect([...new Set((await flood).map((r) => r.status))]).to.deep.equal([400]);
      expect(pidAlive(daemonPid)).to.equal(true);
    } finally {
      for (const c of stalled) c.destroy();
    }
  });

  it('keeps serving across a dockerd restart: restarted containers reconnect, stopped ones start again, nothing leaks', async function () {
    this.timeout(90_000);
    const names = ['d1', 'd2', 'd3'];
    const baseline = await weaveStatus(h);
    const baselineVeths = await hostVeths(h);
    try {
      // sleep as PID 1 ignores SIGTERM: a short stop timeout keeps the engine's shutdown quick
      await h.docker('run', '-d', '--name', 'd1', '--stop-timeout', '1', '--restart', 'always', '--network', 'weave', 'bb', 'sleep', '3600');
      await h.docker('run', '-d', '--name', 'd2', '--stop-timeout', '1', '--network', 'weave', 'bb', 'sleep', '3600');
      await h.restartEngine();
      // d1 comes back by its restart policy; d2 stays stopped, and its endpoint must be gone
      await waitFor(async () => (await h.docker('inspect', '-f', '{{.State.Running}}', 'd1')).stdout.trim() === 'true',
        { timeoutMs: 30_000, what: 'd1 to be restarted by dockerd' });
      expect(pidAlive(daemonPid), 'our daemon survives the engine restart').to.equal(true);
      const d1 = await containerEndpoint(h, 'd1', 'weave');
      await waitFor(async () => (await weaveStatus(h)).plugin.endpoints === baseline.plugin.endpoints + 1,
        { timeoutMs: 10_000, what: 'one endpoint (d1) more than before' });
      expect(await hostVeths(h)).to.include(`vethwl${d1.EndpointID.slice(0, 9)}`);
      await h.docker('start', 'd2');
      await runSleeper(h, 'd3', 'weave');
      const d2 = await containerEndpoint(h, 'd2', 'weave');
      expect(await pingFrom(h, 'd2', d1.IPAddress), 'd2 -> d1').to.equal(true);
      expect(await pingFrom(h, 'd3', d2.IPAddress), 'd3 -> d2').to.equal(true);
      await h.docker('rm', '-f', ...names);
      expect(await hostVeths(h)).to.deep.equal(baselineVeths);
      expect(stateOf(await weaveStatus(h))).to.deep.equal(stateOf(baseline));
    } finally {
      await removeContainers(h, names);
    }
  });

  it('`weave stop` stops the daemon and leaves containers connected', async function () {
    const names = ['s1', 's2'];
    try {
      await Promise.all([runSleeper(h, 's1', 'weave'), runSleeper(h, 's2', 'weave')]);
      const s2 = await containerEndpoint(h, 's2', 'weave');
      const pid = daemonPid;
      await h.weave('stop');
      expect(pidAlive(pid), 'daemon gone when `weave stop` returns').to.equal(false);
      expect((await h.tryWeave(['status'], { timeoutMs: 10_000 })).code).to.not.equal(0);
      expect(await pingFrom(h, 's1', s2.IPAddress), 's1 -> s2 with the daemon stopped').to.equal(true);
      daemonPid = await launchWeave(h);
      expect((await weaveStatus(h)).plugin.endpoints).to.be.greaterThanOrEqual(2);
      await h.docker('rm', '-f', ...names);
      expect(await hostVeths(h)).to.not.include(`vethwl${s2.EndpointID.slice(0, 9)}`);
    } finally {
      await removeContainers(h, names);
    }
  });
});
