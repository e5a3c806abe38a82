// `weave expose` / `weave hide` between two emulated hosts: host1 takes an address on the default
// network, pings a container on host2 and is pinged back over it; the address is named in
// weaveDNS, stays on its own network's segment (another network's container gets no ARP answer),
// survives a daemon kill -9 (and the plugin's orphan sweep after it), and hide takes it all away.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive } from '../harness/host-processes.ts';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { DAEMON_LOG, daemonPid, launchWeave, pingFrom, waitForDockerNetwork, weaveStatus } from '../harness/weave-probes.ts';
import { sleep, waitFor } from '../harness/wait.ts';

const DEFAULT_SUBNET = '10.32.0.0/16';
const HOST_END = 'weavex0a200000';
/** The plugin releases unclaimed addresses this long after a start (plugin-server.ts), plus slack. */
const ORPHAN_GRACE_MS = 45_000 + 3_000;

async function hostPings(h: LabHost, ip: string): Promise<boolean> {
  const r = await h.exec('ping', ['-n', '-c', '1', '-W', '2', ip], { allowFail: true });
  return r.code === 0;
}

/** The daemon's log from byte `from` on (the log is appended to across launches). */
function logSince(h: LabHost, from: number): string {
  return readFileSync(join(h.files.weaveData, DAEMON_LOG)).subarray(from).toString('utf8');
}

async function defaultPoolAddresses(h: LabHost): Promise<string[]> {
  return (await weaveStatus(h)).ipam.pools.find((p) => p.subnet === DEFAULT_SUBNET)?.addresses ?? [];
}

/** Whether a container on `network` gets an ARP answer for `ip` on its weave interface: L2 only,
 *  so the host's own routing (through docker_gwbridge) cannot answer in the bridge's place. */
async function arpAnswered(h: LabHost, network: string, subnetPrefix: string, ip: string): Promise<boolean> {
  const script = `IF=$(ip -o -4 addr show | awk '$4 ~ /^${subnetPrefix.replace(/\./g, '\\.')}/ {print $2}'); arping -c 2 -w 3 -I "$IF" ${ip}`;
  const r = await h.tryDocker(['run', '--rm', '--network', network, 'bb', 'sh', '-c', script]);
  return r.code === 0;
}

describe('expose: the host on a weave network (root)', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let h1: LabHost;
  let h2: LabHost;
  let c2Ip = '';
  let exposed = '';

  before(async () => {
    lab = await Lab.up({ hosts: 2 });
    h1 = lab.host(1);
    h2 = lab.host(2);
    await launchWeave(h1);
    await launchWeave(h2, '198.18.0.1');
    await Promise.all([waitForDockerNetwork(h1, 'weave'), waitForDockerNetwork(h2, 'weave')]);
    await h2.docker('run', '-d', '--name', 'c2', '--network', 'weave', 'bb', 'sleep', '1d');
    c2Ip = (await h2.docker('inspect', '-f', '{{.NetworkSettings.Networks.weave.IPAddress}}', 'c2')).stdout.trim();
  });

  after(async () => {
    await lab?.down();
  });

  it('weave expose prints an address of the default network; host1 and a container on host2 ping each other over it', async () => {
    const out = (await h1.weave('expose')).stdout.trim();
    expect(out).to.match(/^10\.32\.\d+\.\d+\/16$/);
    exposed = out.split('/')[0]!;
    expect((await h1.weave('expose')).stdout.trim(), 'exposing again gives the same address').to.equal(out);
    const addrs = JSON.parse((await h1.exec('ip', ['-j', '-4', 'addr', 'show', 'dev', HOST_END])).stdout) as { addr_info: { local: string; prefixlen: number }[] }[];
    expect(addrs[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).to.deep.equal([out]);
    expect((await h1.exec('ip', ['-o', 'addr', 'show', 'dev', 'weave'])).stdout, 'not on the bridge').to.not.contain(exposed);
    await waitFor(() => hostPings(h1, c2Ip), { timeoutMs: 30_000, intervalMs: 500, what: `host1 to ping c2 (${c2Ip}) on host2` });
    expect(await pingFrom(h2, 'c2', exposed)).to.equal(true);
    // named after the host, and the name reaches the other host by gossip
    await waitFor(async () => (await h2.tryWeave(['dns-lookup', 'host1'])).stdout.trim() === exposed, { timeoutMs: 10_000, what: 'host1 in weaveDNS on host2' });
    expect((await h1.weave('status')).stdout).to.match(new RegExp(`Exposed: ${out.replace(/\./g, '\\.')} on ${HOST_END} \\(host1\\)`));
  });

  it('stays on its own network: a container of another network gets no ARP answer from it, one of its own does', async () => {
    await h1.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', '--subnet', '10.44.0.0/24', 'app');
    expect(await arpAnswered(h1, 'weave', '10.32.', exposed), 'a container of the default network').to.equal(true);
    expect(await arpAnswered(h1, 'app', '10.44.', exposed), 'a container of network app').to.equal(false);
    const refused = await h1.tryWeave(['expose', '10.99.0.0/24']);
    expect(refused.code).to.equal(1);
    expect(refused.stderr.trim()).to.equal('weave: no weave network with subnet 10.99.0.0/24 on this host');
  });

  it('survives a daemon kill -9 and relaunch, and the orphan sweep after it leaves the address alone', async () => {
    const oldPid = await daemonPid(h1);
    process.kill(oldPid, 'SIGKILL');
    await waitFor(() => !pidAlive(oldPid), { timeoutMs: 5000, what: 'the daemon to die' });
    // the overlay between the hosts is down with the router; the host's link is not
    expect((await h1.exec('ip', ['-o', '-4', 'addr', 'show', 'dev', HOST_END])).stdout, 'while the daemon is down').to.contain(`${exposed}/16`);
    const logStart = readFileSync(join(h1.files.weaveData, DAEMON_LOG)).length;
    await launchWeave(h1);
    const relaunched = Date.now();
    await waitFor(() => logSince(h1, logStart).includes('in sync with Docker'), { timeoutMs: 30_000, what: 'the plugin to sync with Docker' });
    // the sweep's candidates are logged when it is scheduled: the exposed address is not one
    const orphans = logSince(h1, logStart).split('\n').filter((l) => l.includes('nothing uses'));
    expect(orphans.join('\n')).to.not.contain(`"${exposed}"`);
    expect((await h1.weave('expose')).stdout.trim()).to.equal(`${exposed}/16`);
    // the overlay comes back once the relaunched router has reconnected to host2
    await waitFor(() => hostPings(h1, c2Ip), { timeoutMs: 30_000, intervalMs: 500, what: 'host1 to ping c2 again after the relaunch' });
    await sleep(Math.max(0, relaunched + ORPHAN_GRACE_MS - Date.now()));
    expect(await defaultPoolAddresses(h1)).to.include(exposed);
    expect(await pingFrom(h2, 'c2', exposed), 'after the grace').to.equal(true);
  });

  it('weave hide removes the link, the address from IPAM and the name', async () => {
    expect((await h1.weave('hide')).stdout.trim()).to.equal(`${exposed}/16`);
    const link = await h1.exec('ip', ['link', 'show', 'dev', HOST_END], { allowFail: true });
    expect(link.code, 'the host end is gone').to.not.equal(0);
    expect(await defaultPoolAddresses(h1)).to.not.include(exposed);
    expect((await h1.tryWeave(['dns-lookup', 'host1'])).code).to.equal(1);
    expect(await hostPings(h1, c2Ip)).to.equal(false);
    expect((await h1.weave('hide')).stdout.trim(), 'hiding again hides nothing').to.equal('');
  });
});
