// weaveDNS across three emulated hosts, set up as docs/dns.md tells users: the one-time host
// setting (daemon.json "dns": ["169.254.53.53"]) and nothing on `docker run`. Names of containers
// on one host resolve on the others through Docker's own resolver, scoped to the asker's networks;
// other names go to the upstream (a DNS server on the lab wire standing in for the internet's).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { daemonPid, launchWeave, pollDnsName } from '../harness/weave-probes.ts';
import { waitFor } from '../harness/wait.ts';

const DNS_ADDRESS = '169.254.53.53';
const RESOLV = '/var/lib/weave/resolv.conf';

/** Addresses busybox nslookup printed for the name (the server's own lines left out). */
function nslookupAddresses(out: string): string[] {
  const answer = out.split(/\n\s*\n/).slice(1).join('\n');
  return [...answer.matchAll(/Address(?: \d+)?:\s*([\d.]+)/g)].map((m) => m[1]!).sort();
}

/** What a fresh container on `network` of host `h` resolves `name` to, through Docker's resolver. */
async function resolveIn(h: LabHost, network: string, name: string): Promise<string[]> {
  const r = await h.tryDocker(['run', '--rm', '--network', network, 'bb', 'nslookup', name]);
  return r.code === 0 ? nslookupAddresses(r.stdout) : [];
}

async function lookupOnHost(h: LabHost, name: string): Promise<string[]> {
  const r = await h.tryWeave(['dns-lookup', name]);
  return r.code === 0 ? r.stdout.trim().split('\n').filter((l) => l !== '').sort() : [];
}

async function ipOn(h: LabHost, container: string, network: string): Promise<string> {
  return (await h.docker('inspect', '-f', `{{.NetworkSettings.Networks.${network}.IPAddress}}`, container)).stdout.trim();
}

describe('dns: weaveDNS across three hosts with no per-container flags (root)', function () {
  this.timeout(300_000);
  let lab: Lab | undefined;
  let h: LabHost[] = [];
  let dbIp1 = '';

  before(async () => {
    lab = await Lab.up({ hosts: 3, daemonJson: { dns: [DNS_ADDRESS] } });
    h = [lab.host(1), lab.host(2), lab.host(3)];
    const upstream = await lab.startUpstreamDns({ 'outside.example': '203.0.113.7' });
    const addrs = ['198.18.0.1', '198.18.0.2', '198.18.0.3'];
    for (const host of h) writeFileSync(join(host.files.weaveData, 'resolv.conf'), `nameserver ${upstream.address}\n`);
    await Promise.all(h.map((host, k) => launchWeave(host, '--resolv-conf', RESOLV, ...addrs.filter((_, j) => j !== k))));
    for (const host of h) {
      await host.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', '--subnet', '10.44.0.0/24', 'app');
      await host.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', '--subnet', '10.45.0.0/24', 'other');
    }
  });

  after(async () => {
    await lab?.down();
  });

  it('a container on host1 resolves on host2 and host3 by name and by name.weave.local, and answers ping', async () => {
    // the address IPAM will give is not known before the run: watch for any, then check it
    await h[0]!.docker('create', '--network', 'app', '--name', 'db', '--network-alias', 'database', 'bb', 'sleep', '1d');
    const poll = await pollDnsName(h[1]!, 'db', '*', 'present');
    await h[0]!.docker('start', 'db');
    const returned = Date.now();
    dbIp1 = await ipOn(h[0]!, 'db', 'app');
    const seen = await poll.at;
    expect(await lookupOnHost(h[1]!, 'db')).to.deep.equal([dbIp1]);
    console.log(`      name visible on host2 at most ${seen - returned} ms after docker start returned`);
    for (const host of [h[1]!, h[2]!]) {
      await waitFor(async () => (await lookupOnHost(host, 'db')).includes(dbIp1), { timeoutMs: 10_000, what: `db visible on ${host.name}` });
      const ping = await host.tryDocker(['run', '--rm', '--network', 'app', 'bb', 'ping', '-c1', '-W3', 'db']);
      expect(ping.code, `${host.name}: ping db\n${ping.stdout}${ping.stderr}`).to.equal(0);
      expect(ping.stdout).to.contain(dbIp1);
      expect(await resolveIn(host, 'app', 'db.weave.local')).to.deep.equal([dbIp1]);
      expect(await resolveIn(host, 'app', 'database')).to.deep.equal([dbIp1]);
    }
  });

  it('a container on another weave network does not resolve db', async () => {
    expect(await resolveIn(h[1]!, 'other', 'db')).to.deep.equal([]);
    expect(await resolveIn(h[1]!, 'other', 'db.weave.local')).to.deep.equal([]);
  });

  it('external names still resolve, through the upstream in resolv.conf', async () => {
    expect(await resolveIn(h[1]!, 'app', 'outside.example')).to.deep.equal(['203.0.113.7']);
    expect(await resolveIn(h[2]!, 'other', 'outside.example')).to.deep.equal(['203.0.113.7']);
  });

  it('a second db on host3: both answers are returned', async () => {
    await h[2]!.docker('run', '-d', '--network', 'app', '--name', 'db', 'bb', 'sleep', '1d');
    const dbIp3 = await ipOn(h[2]!, 'db', 'app');
    const both = [dbIp1, dbIp3].sort();
    await waitFor(async () => (await lookupOnHost(h[1]!, 'db')).length === 2, { timeoutMs: 10_000, what: 'two db entries on host2' });
    expect(await resolveIn(h[1]!, 'app', 'db.weave.local')).to.deep.equal(both);
    expect(await resolveIn(h[1]!, 'app', 'db')).to.deep.equal(both);
  });

  it('docker rm -f db on host1: its address stops resolving on every host within 2 s', async () => {
    const polls = await Promise.all(h.map((host) => pollDnsName(host, 'db', dbIp1, 'absent')));
    await h[0]!.docker('rm', '-f', 'db');
    const returned = Date.now();
    const gone = await Promise.all(polls.map((p) => p.at));
    const worst = Math.max(...gone.map((t) => t - returned));
    console.log(`      gone on every host ${worst <= 0 ? `${-worst} ms before` : `${worst} ms after`} docker rm returned (the die event comes first)`);
    expect(worst).to.be.below(2000);
    expect(await resolveIn(h[1]!, 'app', 'db.weave.local')).to.not.include(dbIp1);
  });

  it('a daemon killed with -9 and relaunched registers its running containers again', async () => {
    await h[0]!.docker('run', '-d', '--network', 'app', '--name', 'web', '--hostname', 'frontend', 'bb', 'sleep', '1d');
    const webIp = await ipOn(h[0]!, 'web', 'app');
    await waitFor(async () => (await lookupOnHost(h[1]!, 'web')).includes(webIp), { timeoutMs: 10_000, what: 'web on host2' });
    process.kill(await daemonPid(h[0]!), 'SIGKILL');
    await launchWeave(h[0]!, '--resolv-conf', RESOLV);
    await waitFor(async () => (await lookupOnHost(h[0]!, 'web')).includes(webIp), { timeoutMs: 20_000, what: 'web registered again on host1' });
    await waitFor(async () => (await lookupOnHost(h[1]!, 'frontend')).includes(webIp), { timeoutMs: 20_000, what: 'frontend (hostname) on host2' });
    expect(await resolveIn(h[2]!, 'app', 'web')).to.deep.equal([webIp]);
  });

  it('weave dns-add/dns-remove manage names that are not containers; dns-args prints the flags', async () => {
    await h[1]!.weave('dns-add', '10.44.0.250', '-h', 'printer.weave.local');
    await waitFor(async () => (await lookupOnHost(h[2]!, 'printer')).includes('10.44.0.250'), { timeoutMs: 5000, what: 'printer on host3' });
    expect(await resolveIn(h[2]!, 'app', 'printer')).to.deep.equal(['10.44.0.250']);
    await h[1]!.weave('dns-remove', '10.44.0.250');
    await waitFor(async () => (await lookupOnHost(h[2]!, 'printer')).length === 0, { timeoutMs: 5000, what: 'printer gone on host3' });
    expect((await h[0]!.weave('dns-args')).stdout.trim()).to.equal(`--dns=${DNS_ADDRESS} --dns-search=weave.local`);
    const st = (await h[0]!.weave('status', 'dns')).stdout;
    expect(st).to.match(/web\.weave\.local\s+10\.44\.0\.\d+/);
  });
});
