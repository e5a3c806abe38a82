// Distributed IPAM across emulated hosts: consensus among peers launched together, distinct
// addresses for containers on every host, 1000 concurrent allocations without a duplicate, a
// restart that keeps ring and addresses, rmpeer of a dead host, and a lone peer that fails
// fast with the reason and succeeds once the others arrive.
import { expect } from 'chai';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { daemonPid, ipamRing, launchWeave, pingFrom } from '../harness/weave-probes.ts';
import type { IpamRing } from '../harness/weave-probes.ts';
import { waitFor } from '../harness/wait.ts';

/** Runs `count` allocations against the host's own daemon API, `parallel` at a time; returns
 *  the addresses handed out. */
async function allocateVia(h: LabHost, prefix: string, count: number, parallel = 25, subnet = '10.32.0.0/12'): Promise<string[]> {
  const script = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: ${parallel} });
const post = (id) => new Promise((resolve, reject) => {
  const req = http.request({ host: '127.0.0.1', port: 6784, method: 'POST', path: '/ip/' + id + '/${subnet}', agent }, (res) => {
    let body = ''; res.on('data', (c) => (body += c));
    res.on('end', () => (res.statusCode === 200 ? resolve(body.trim()) : reject(new Error(id + ': ' + res.statusCode + ' ' + body))));
  });
  req.on('error', reject); req.end();
});
Promise.all(Array.from({ length: ${count} }, (_, i) => post('${prefix}' + i))).then(
  (a) => { process.stdout.write(JSON.stringify(a)); agent.destroy(); },
  (e) => { process.stderr.write(String(e)); process.exit(1); });
`;
  const r = await h.exec(process.execPath, ['-e', script], { timeoutMs: 120_000 });
  return JSON.parse(r.stdout) as string[];
}

/** GET on the host's own daemon API (it listens on loopback inside the host's netns). */
async function httpGet(h: LabHost, path: string): Promise<string> {
  const script = `require('node:http').get('http://127.0.0.1:6784${path}', (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => process.stdout.write(b)); })`;
  return (await h.exec(process.execPath, ['-e', script])).stdout;
}

function ownership(r: IpamRing): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of r.Entries) m.set(e.Peer, (m.get(e.Peer) ?? 0) + e.Size);
  return m;
}

async function containerIp(h: LabHost, name: string): Promise<string> {
  return (await h.docker('inspect', '-f', '{{.NetworkSettings.Networks.weave.IPAddress}}', name)).stdout.trim();
}

describe('ipam: distributed ring across three hosts (root)', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let h: LabHost[] = [];
  const ips: string[] = [];

  before(async () => {
    lab = await Lab.up({ hosts: 3 });
    h = [lab.host(1), lab.host(2), lab.host(3)];
    const addrs = ['198.18.0.1', '198.18.0.2', '198.18.0.3'];
    // launched together, each naming the other two: consensus among 3 (quorum 2)
    await Promise.all(h.map((host, k) => launchWeave(host, ...addrs.filter((_, j) => j !== k))));
  });

  after(async () => {
    await lab?.down();
  });

  it('reaches consensus; containers on all three hosts get distinct addresses and ping each other', async () => {
    for (const host of h) await waitFor(async () => (await host.docker('network', 'ls', '--format', '{{.Name}}')).stdout.includes('weave'), { timeoutMs: 30_000, what: `network weave on ${host.name}` });
    await Promise.all(h.map((host, k) => host.docker('run', '-d', '--name', `c${k + 1}`, '--network', 'weave', 'bb', 'sleep', '1d')));
    for (let k = 0; k < 3; k++) ips.push(await containerIp(h[k]!, `c${k + 1}`));
    expect(new Set(ips).size, ips.join(' ')).to.equal(3);
    for (const ip of ips) expect(ip).to.match(/^10\.32\./);
    const views = await Promise.all(h.map(ipamRing));
    for (const v of views) {
      expect(v.Status).to.equal('ready');
      expect(v.Seeds.length).to.be.within(2, 3);
      expect([...ownership(v).values()].reduce((a, b) => a + b, 0)).to.equal(2 ** 20);
    }
    for (let k = 0; k < 3; k++) {
      const other = ips[(k + 1) % 3]!;
      await waitFor(() => pingFrom(h[k]!, `c${k + 1}`, other), { timeoutMs: 20_000, intervalMs: 500, what: `c${k + 1} to reach ${other}` });
    }
    const text = (await h[0]!.weave('status', 'ipam')).stdout;
    expect(text).to.match(/^[0-9a-f:]{17}\(host1\)\s+\d+ IPs \(\d+\.\d% of total\) \(\d+ active\)$/m);
  });

  it('1000 allocations spread over three hosts at once: no duplicates, ownership adds up to the range', async () => {
    const got = (await Promise.all(h.map((host, k) => allocateVia(host, `bulk${k}-`, k === 0 ? 334 : 333)))).flat();
    expect(got).to.have.length(1000);
    expect(new Set(got).size, 'distinct addresses').to.equal(1000);
    expect(got.filter((a) => ips.includes(a.split('/')[0]!))).to.deep.equal([]);
    // every peer's view converges to one ring covering the whole range
    await waitFor(
      async () => {
        const views = await Promise.all(h.map(ipamRing));
        const sums = views.map((v) => [...ownership(v).values()].reduce((a, b) => a + b, 0));
        const same = views.every((v) => JSON.stringify(v.Entries.map((e) => [e.Token, e.Peer])) === JSON.stringify(views[0]!.Entries.map((e) => [e.Token, e.Peer])));
        return sums.every((s) => s === 2 ** 20) && same;
      },
      { timeoutMs: 40_000, intervalMs: 1000, what: 'the three rings to agree and cover the range' },
    );
    // the addresses each host handed out lie in space its own ring says it owns
    const views = await Promise.all(h.map(ipamRing));
    expect(views.reduce((n, v) => n + v.ActiveIPs, 0)).to.be.at.least(1003);
    const metrics = await httpGet(h[0]!, '/metrics');
    expect(metrics).to.contain(`weave_ips{state="local-used"} ${views[0]!.ActiveIPs}`);
    expect(metrics).to.match(/^weave_max_ips 1048576$/m);
    expect(metrics).to.match(/^weave_ipam_pending_allocates 0$/m);
    expect(metrics).to.match(/^weave_ipam_unreachable_count 0$/m);
  });

  it('a restarted host keeps its ring and allocations; its container keeps its address', async () => {
    const before = JSON.parse(await httpGet(h[1]!, '/ip')) as unknown;
    const ringBefore = ownership(await ipamRing(h[1]!)).get((await ipamRing(h[1]!)).Name);
    await h[1]!.weave('stop');
    await launchWeave(h[1]!);
    const after = JSON.parse(await httpGet(h[1]!, '/ip')) as unknown;
    expect(after).to.deep.equal(before);
    const v = await ipamRing(h[1]!);
    expect(ownership(v).get(v.Name)).to.equal(ringBefore);
    expect(await containerIp(h[1]!, 'c2')).to.equal(ips[1]);
    await waitFor(() => pingFrom(h[0]!, 'c1', ips[1]!), { timeoutMs: 20_000, intervalMs: 500, what: 'c1 to reach c2 after the restart' });
    // and new allocations there still do not collide
    const more = await allocateVia(h[1]!, 'after-restart-', 20);
    expect(new Set(more).size).to.equal(20);
  });

  it('rmpeer on one survivor takes over a dead host\'s space; allocations go on without duplicates', async () => {
    const dead = await ipamRing(h[2]!);
    const deadShare = ownership(dead).get(dead.Name) ?? 0;
    expect(deadShare).to.be.greaterThan(0);
    process.kill(await daemonPid(h[2]!), 'SIGKILL');
    // refused while the peer still looks alive, accepted once it is gone
    const out = await waitFor(
      async () => {
        const r = await h[0]!.tryWeave(['rmpeer', 'host3']);
        return r.code === 0 ? r.stdout : undefined;
      },
      { timeoutMs: 70_000, intervalMs: 1000, what: 'rmpeer host3 to be accepted once host3 is unreachable' },
    );
    expect(out).to.match(new RegExp(`^${deadShare} IPs taken over from ${dead.Name}`));
    await waitFor(
      async () => {
        const v = await ipamRing(h[1]!);
        return !v.Entries.some((e) => e.Peer === dead.Name);
      },
      { timeoutMs: 20_000, intervalMs: 500, what: 'host2 to learn that host3 is gone from the ring' },
    );
    const v0 = await ipamRing(h[0]!);
    expect([...ownership(v0).keys()].sort()).to.deep.equal([v0.Name, (await ipamRing(h[1]!)).Name].sort());
    const got = (await Promise.all([allocateVia(h[0]!, 'post-rm-a', 100), allocateVia(h[1]!, 'post-rm-b', 100)])).flat();
    expect(new Set(got).size).to.equal(200);
    expect(got.filter((a) => ips.slice(0, 2).includes(a.split('/')[0]!))).to.deep.equal([]);
    // the dead host's space is reused: a subnet that lay wholly in it now allocates on host1
    const e = dead.Entries.filter((x) => x.Peer === dead.Name).sort((a, b) => b.Size - a.Size)[0]!;
    const token = e.Token.split('.').reduce((n, o) => n * 256 + Number(o), 0);
    let size = 1;
    while (size * 2 <= e.Size && token % (size * 2) === 0) size *= 2;
    expect(size, `aligned block at ${e.Token} (${e.Size} addresses)`).to.be.at.least(4);
    const reused = await allocateVia(h[0]!, 'reuse-', 3, 3, `${e.Token}/${32 - Math.log2(size)}`);
    expect(new Set(reused).size).to.equal(3);
    for (const a of reused) expect(a.endsWith(`/${32 - Math.log2(size)}`)).to.equal(true);
  });
});

describe('ipam: a lone peer waiting for consensus, and a peer seeded apart (root)', function () {
  this.timeout(180_000);
  let lab: Lab | undefined;
  let h: LabHost[] = [];

  before(async () => {
    lab = await Lab.up({ hosts: 3 });
    h = [lab.host(1), lab.host(2), lab.host(3)];
  });

  after(async () => {
    await lab?.down();
  });

  it('docker run fails within a bounded time saying what is missing, and succeeds once the other peers arrive', async () => {
    await launchWeave(h[0]!, '--ipalloc-init', 'consensus=3', '198.18.0.2');
    await waitFor(async () => (await h[0]!.docker('network', 'ls', '--format', '{{.Name}}')).stdout.includes('weave'), { timeoutMs: 30_000, what: 'network weave' });
    const t0 = Date.now();
    const r = await h[0]!.tryDocker(['run', '--rm', '--network', 'weave', 'bb', 'true'], { timeoutMs: 60_000 });
    const took = Date.now() - t0;
    expect(r.code).to.not.equal(0);
    expect(took, 'docker run must fail within the plugin deadline').to.be.below(15_000);
    expect(r.stderr).to.match(/waiting for consensus: 1 of 3 peers known \(quorum 2\)/);
    const st = await ipamRing(h[0]!);
    expect(st.Status).to.match(/awaiting consensus \(quorum: 2, known: 1\)/);
    await launchWeave(h[1]!, '--ipalloc-init', 'consensus=3', '198.18.0.1');
    await waitFor(async () => (await h[0]!.tryDocker(['run', '--rm', '--network', 'weave', 'bb', 'true'], { timeoutMs: 30_000 })).code === 0, {
      timeoutMs: 40_000,
      intervalMs: 1000,
      what: 'docker run to succeed once a quorum of peers is present',
    });
  });

  it("a peer seeded on its own is refused ('seeded by different peers') until weave ipam-rejoin; then it joins and keeps its container's address", async () => {
    const name = '0a:00:00:00:00:33';
    await launchWeave(h[2]!, '--name', name, '--ipalloc-init', `seed=${name}`);
    await waitFor(async () => (await h[2]!.docker('network', 'ls', '--format', '{{.Name}}')).stdout.includes('weave'), { timeoutMs: 30_000, what: 'network weave on host3' });
    await h[2]!.docker('run', '-d', '--name', 's1', '--network', 'weave', 'bb', 'sleep', '1d');
    const ip3 = await containerIp(h[2]!, 's1');
    await h[2]!.weave('connect', '198.18.0.1');
    await waitFor(async () => /seeded by different peers/.test((await h[2]!.weave('status', 'connections')).stdout), {
      timeoutMs: 30_000,
      intervalMs: 500,
      what: "host3's connection to host1 to fail with 'seeded by different peers'",
    });
    const out = (await h[2]!.weave('ipam-rejoin')).stdout;
    expect(out).to.match(/dropped this peer's ring/);
    await h[2]!.weave('connect', '198.18.0.1');
    const seeds1 = (await ipamRing(h[0]!)).Seeds;
    await waitFor(
      async () => {
        const r = await ipamRing(h[2]!);
        return JSON.stringify(r.Seeds) === JSON.stringify(seeds1) && r.Reclaiming.length === 0 && r.Entries.some((e) => e.Peer === name) ? r : undefined;
      },
      { timeoutMs: 40_000, intervalMs: 1000, what: "host3 to adopt host1's ring and get its container's address back" },
    );
    expect((await ipamRing(h[2]!)).Conflicts).to.deep.equal([]);
    await h[0]!.docker('run', '-d', '--name', 'j1', '--network', 'weave', 'bb', 'sleep', '1d');
    const ip1 = await containerIp(h[0]!, 'j1');
    expect(ip1).to.not.equal(ip3);
    await waitFor(() => pingFrom(h[0]!, 'j1', ip3), { timeoutMs: 20_000, intervalMs: 500, what: 'j1 on host1 to reach s1 on host3' });
  });
});
