import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { pidAlive } from '../harness/host-processes.ts';
import { Lab } from '../harness/lab.ts';
import { LabLayout } from '../harness/lab-layout.ts';
import { REPO_ROOT } from '../harness/repo-root.ts';
import { requireRoot } from '../harness/require-root.ts';
import { runCommand } from '../harness/run-command.ts';
import { sweepStaleLabs } from '../harness/stale-labs.ts';
import { UnderlayFaults } from '../harness/underlay-faults.ts';
import { sleep, waitFor } from '../harness/wait.ts';

/** Everything a lab leaves on the machine, to compare with nothing after teardown. */
function leftovers(id: string): string[] {
  const found: string[] = [];
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
  found.push(...netns.filter((n) => n.startsWith(`wv-${id}-`)).map((n) => `netns ${n}`));
  const layout = new LabLayout(id);
  if (existsSync(layout.dir)) found.push(`state dir ${layout.dir}`);
  for (const c of readdirSync('/sys/fs/cgroup')) {
    for (const e of safeReaddir(join('/sys/fs/cgroup', c))) if (e.startsWith(`wv-${id}-`)) found.push(`cgroup ${c}/${e}`);
  }
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    let cg = '';
    try {
      cg = readFileSync(`/proc/${p}/cgroup`, 'utf8');
    } catch {
      continue;
    }
    if (cg.includes(`:/wv-${id}-`) && pidAlive(Number(p))) found.push(`process ${p} in a lab cgroup`);
  }
  return found;
}

async function linkInfoIn(netns: string, dev: string): Promise<{ mtu: number }> {
  const [l] = JSON.parse((await runCommand('ip', ['-n', netns, '-j', 'link', 'show', 'dev', dev])).stdout) as { mtu: number }[];
  if (!l) throw new Error(`no ${dev} in ${netns}`);
  return l;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Runs fixtures/lab-owner.ts and resolves with the lab id it prints. */
function startOwner(mode: 'hold' | 'exit'): Promise<{ id: string; pid: number; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/e2e/fixtures/lab-owner.ts'), mode], {
    cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /LAB (\w+)/.exec(out);
      if (m?.[1] && child.pid !== undefined) resolve({ id: m[1], pid: child.pid, exited });
    });
    void exited.then((code) => reject(new Error(`lab owner exited (${code}) before printing its lab id:\n${out}\n${err}`)));
  });
}

describe('lab harness (root)', function () {
  this.timeout(90_000);
  let lab: Lab | undefined;
  let id = '';
  let enginePids: number[] = [];

  before(async function () {
    requireRoot('the lab harness test');
    lab = await Lab.up({ hosts: 2 });
    id = lab.id;
  });

  after(async function () {
    await lab?.down();
  });

  it('gives every host its own hostname, sysfs and per-host state dirs', async function () {
    const l = lab!;
    for (const k of [1, 2]) {
      const h = l.host(k);
      expect((await h.exec('hostname')).stdout.trim()).to.equal(`host${k}`);
      expect((await h.exec('ls', ['/sys/class/net'])).stdout.split(/\s+/).filter(Boolean).sort()).to.deep.equal(['eth0', 'lo']);
      expect((await h.exec('ls', ['/sys/fs/cgroup/memory'])).code).to.equal(0);
    }
    await l.host(1).sh('echo one >/var/lib/weave/marker && echo one >/run/marker');
    for (const f of ['/var/lib/weave/marker', '/run/marker']) {
      expect((await l.host(2).exec('cat', [f], { allowFail: true })).code, `${f} leaks into host2`).to.not.equal(0);
      expect(existsSync(f), `${f} leaks into the root ns`).to.equal(false);
    }
    expect(readFileSync(join(l.host(1).files.weaveData, 'marker'), 'utf8')).to.equal('one\n');
  });

  it('connects the hosts over the underlay, in both directions', async function () {
    const l = lab!;
    const a = await l.host(1).exec('busybox', ['ping', '-c', '1', '-W', '2', '198.18.0.2']);
    expect(a.stdout).to.match(/1 packets received/);
    const b = await l.host(2).exec('busybox', ['ping', '-c', '1', '-W', '2', '198.18.0.1']);
    expect(b.stdout).to.match(/1 packets received/);
  });

  it('keeps the underlay a dead end, away from the root netns', async function () {
    const l = lab!;
    const root = await runCommand('ip', ['-o', 'addr']);
    expect(root.stdout).to.not.match(/198\.18\./);
    const wireLinks = (await runCommand('ip', ['-n', l.layout.wireNetns, '-o', 'link'])).stdout
      .split('\n').filter(Boolean).map((s) => s.split(':')[1]!.trim().split('@')[0]).sort();
    expect(wireLinks).to.deep.equal(['br0', 'lo', 'p1', 'p2']);
    const fwd = await runCommand('nsenter', [`--net=/run/netns/${l.layout.wireNetns}`, '--', 'sysctl', '-n', 'net.ipv4.ip_forward']);
    expect(fwd.stdout.trim()).to.equal('0');
    const route = await l.host(1).exec('ip', ['route', 'show', 'default']);
    expect(route.stdout).to.match(/default via 198\.18\.0\.254 dev eth0/);
  });

  it('injects underlay faults: cut cable, MTU, filtered UDP port, loss; and clears them', async function () {
    const l = lab!;
    const faults = new UnderlayFaults(l);
    const ping = async (from: number, to: string): Promise<boolean> =>
      (await l.host(from).exec('busybox', ['ping', '-c', '1', '-W', '1', to], { allowFail: true })).code === 0;
    /** Datagrams from host1 to host2:port; true when host2 got one. */
    const udpArrives = async (port: number): Promise<boolean> => {
      const recv = l.host(2).exec(process.execPath, ['-e', `
        const s = require('dgram').createSocket('udp4');
        s.on('message', () => process.exit(0));
        s.bind(${port}, '198.18.0.2', () => console.log('bound'));
        setTimeout(() => process.exit(3), 2000);`], { allowFail: true });
      await sleep(400);
      await l.host(1).exec(process.execPath, ['-e', `
        const s = require('dgram').createSocket('udp4');
        let n = 0;
        const t = setInterval(() => { s.send('x', ${port}, '198.18.0.2'); if (++n === 5) { clearInterval(t); setTimeout(() => s.close(), 50); } }, 100);`]);
      return (await recv).code === 0;
    };

    expect(await ping(1, '198.18.0.2')).to.equal(true);
    await faults.disconnect(2);
    expect(await ping(1, '198.18.0.2'), 'ping with host2 cut off').to.equal(false);
    await faults.reconnect(2);
    await waitFor(() => ping(1, '198.18.0.2'), { timeoutMs: 5000, what: 'host2 back on the wire' });

    await faults.setMtu(1, 1280);
    expect((await linkInfoIn(l.host(1).netns, 'eth0')).mtu).to.equal(1280);
    expect((await linkInfoIn(l.layout.wireNetns, 'p1')).mtu).to.equal(1280);

    expect(await udpArrives(6784), 'UDP 6784 before the filter').to.equal(true);
    await faults.blockUdp(2, 6784);
    expect(await udpArrives(6784), 'UDP 6784 filtered').to.equal(false);
    expect(await udpArrives(6783), 'other ports unaffected').to.equal(true);
    expect(await ping(1, '198.18.0.2'), 'ICMP unaffected').to.equal(true);

    await faults.loss(1, 100);
    expect(await ping(1, '198.18.0.2'), 'ping at 100% loss').to.equal(false);

    await faults.clear(1);
    await faults.clear(2);
    expect(await ping(1, '198.18.0.2'), 'ping after clear').to.equal(true);
    expect(await udpArrives(6784), 'UDP 6784 after clear').to.equal(true);
    expect((await linkInfoIn(l.host(1).netns, 'eth0')).mtu).to.equal(1500);
  });

  it('runs containers in each host on its own engine', async function () {
    const l = lab!;
    const [r1, r2] = await Promise.all([1, 2].map((k) => l.host(k).docker('run', '--rm', '--network', 'none', 'bb', 'hostname')));
    expect(r1!.code).to.equal(0);
    expect(r2!.code).to.equal(0);
    await l.host(1).docker('run', '-d', '--name', 'sleeper', '--network', 'none', 'bb', 'sleep', '3600');
    const ps1 = await l.host(1).docker('ps', '--format', '{{.Names}}');
    const ps2 = await l.host(2).docker('ps', '--format', '{{.Names}}');
    expect(ps1.stdout.trim()).to.equal('sleeper');
    expect(ps2.stdout.trim()).to.equal('');
    const iperf = await l.host(2).docker('run', '--rm', '--network', 'none', 'bb', 'iperf3', '--version');
    expect(iperf.stdout).to.match(/iperf 3/);
    enginePids = l.hosts.map((h) => Number(readFileSync(h.files.dockerdPid, 'utf8')));
    expect(enginePids.every(pidAlive)).to.equal(true);
  });

  it('tears down completely, sleeping containers included', async function () {
    const l = lab!;
    const holders = l.hosts.map((h) => h.holderPid);
    const t0 = performance.now();
    await l.down();
    const took = performance.now() - t0;
    expect(holders.filter(pidAlive), 'holders alive').to.deep.equal([]);
    expect(enginePids.filter(pidAlive), 'engines alive').to.deep.equal([]);
    expect(leftovers(id)).to.deep.equal([]);
    expect(took, 'teardown time (ms)').to.be.below(15_000);
    await l.down(); // idempotent
  });

  it('refuses loudly to run without root', function () {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e',
      `const { Lab } = await import(${JSON.stringify(join(REPO_ROOT, 'test/harness/lab.ts'))}); await Lab.up({ hosts: 1 });`], {
      cwd: REPO_ROOT, uid: 65534, gid: 65534, encoding: 'utf8', env: { ...process.env, HOME: '/tmp' }, timeout: 30_000,
    });
    expect(r.status, r.stderr).to.not.equal(0);
    expect(r.stderr).to.include('Lab.up needs root');
  });

  it('cleans up after a failed up', async function () {
    const err = await Lab.up({ hosts: 2, dockerd: '/bin/false', engineTimeoutMs: 1500 }).then(
      () => undefined, (e: Error) => e);
    expect(err?.message).to.match(/Lab\.up of lab (\w+) failed: .*dockerd of host/s);
    const failedId = /lab (\w+) failed/.exec(err!.message)![1]!;
    expect(leftovers(failedId)).to.deep.equal([]);
  });

  it('tears a lab down from the exit handler when its process exits without down()', async function () {
    const owner = await startOwner('exit');
    expect(await owner.exited).to.equal(3);
    expect(leftovers(owner.id)).to.deep.equal([]);
  });

  it('tears a lab down when its process is interrupted (SIGINT)', async function () {
    const owner = await startOwner('hold');
    process.kill(owner.pid, 'SIGINT');
    expect(await owner.exited).to.equal(130);
    expect(leftovers(owner.id)).to.deep.equal([]);
  });

  it('sweeps the lab of a crashed (SIGKILLed) run, and only that one', async function () {
    const owner = await startOwner('hold');
    try {
      // the owner is alive: its lab is not stale
      expect(sweepStaleLabs().swept).to.not.include(owner.id);
      expect(leftovers(owner.id)).to.not.deep.equal([]);
    } finally {
      process.kill(owner.pid, 'SIGKILL');
    }
    await owner.exited;
    await waitFor(() => !pidAlive(owner.pid), { timeoutMs: 5000, what: 'the lab owner to die' });
    const { swept, problems } = sweepStaleLabs();
    expect(problems).to.deep.equal([]);
    expect(swept).to.include(owner.id);
    expect(leftovers(owner.id)).to.deep.equal([]);
  });
});
