// `weave launch` honours its options, refuses bad ones, and does not start a second daemon.
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dockerAnswers } from '../harness/docker-ping.ts';
import { startEngine, stopEngine, waitEngine } from '../harness/engine.ts';
import { pidAlive } from '../harness/host-processes.ts';
import { ipInCidr } from '../harness/ipv4.ts';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { requireBuiltCli } from '../harness/repo-root.ts';
import { requireRoot } from '../harness/require-root.ts';
import { sleep, waitFor } from '../harness/wait.ts';
import {
  containerEndpoint, daemonLogTail, dockerNetwork, dockerNetworkNames, launchWeave, linkInfo, pingFrom, waitForDockerNetwork, weaveStatus,
} from '../harness/weave-probes.ts';
import { parseWeaveStatus } from '../harness/weave-status.ts';

describe('weave launch options (root)', function () {
  this.timeout(60_000);
  let lab: Lab | undefined;
  let h: LabHost;

  before(async function () {
    requireRoot('the launch options suite');
    requireBuiltCli();
    lab = await Lab.up({ hosts: 1 });
    h = lab.host(1);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && lab) console.log(`--- ${h.name} weave.log (tail)\n${daemonLogTail(h)}`);
  });

  after(async function () {
    await lab?.down();
  });

  it('launches before dockerd runs and creates the default network once Docker answers', async function () {
    await stopEngine(h.engine, `dockerd of ${h.name}`);
    const pid = await launchWeave(h);
    try {
      const st = await weaveStatus(h);
      expect(st.pid).to.equal(pid);
      expect(st.defaultNetwork.state, 'default network with Docker down').to.equal('pending');
      startEngine(h.engine);
      await waitEngine(h.engine, `dockerd of ${h.name}`, 30_000);
      await waitForDockerNetwork(h, 'weave', 30_000);
      expect((await weaveStatus(h)).defaultNetwork.state).to.equal('created');
      await h.docker('run', '--rm', '--network', 'weave', 'bb', 'true');
      await h.docker('network', 'rm', 'weave');
    } finally {
      if (!(await dockerAnswers(h.dockerSocket))) {
        startEngine(h.engine);
        await waitEngine(h.engine, `dockerd of ${h.name}`, 30_000);
      }
      await h.tryWeave(['stop']);
    }
  });

  it('uses the given data dir, MTU, ranges and status address', async function () {
    const statusAddr = '127.0.0.1:6790';
    const dataDir = '/var/lib/weave/alt';
    const pid = await launchWeave(h, '--data-dir', dataDir, '--mtu', '1400', '--ipalloc-range', '10.48.0.0/12',
      '--ipalloc-default-subnet', '10.48.0.0/16', '--status-addr', statusAddr);
    try {
      await waitForDockerNetwork(h, 'weave');
      const st = parseWeaveStatus((await h.weave('status', '--json', '--status-addr', statusAddr)).stdout);
      expect(st.pid).to.equal(pid);
      expect(st.dataDir).to.equal(dataDir);
      expect(st.bridge).to.include({ name: 'weave', mtu: 1400 });
      expect(st.ipam.range).to.equal('10.48.0.0/12');
      expect(st.ipam.defaultSubnet).to.equal('10.48.0.0/16');
      expect((await linkInfo(h, 'weave')).mtu).to.equal(1400);
      expect((await dockerNetwork(h, 'weave')).IPAM.Config.map((c) => c.Subnet)).to.deep.equal(['10.48.0.0/16']);
      const alt = join(h.files.weaveData, 'alt');
      expect(readFileSync(join(alt, 'weave.pid'), 'utf8').trim()).to.equal(String(pid));
      expect(existsSync(join(alt, 'weave.log')), 'log in the data dir').to.equal(true);
      expect((await h.tryWeave(['status'], { timeoutMs: 10_000 })).code, 'nothing on the default status address').to.not.equal(0);

      await h.docker('run', '-d', '--name', 'o1', '--network', 'weave', 'bb', 'sleep', '3600');
      await h.docker('run', '-d', '--name', 'o2', '--network', 'weave', 'bb', 'sleep', '3600');
      const o1 = await containerEndpoint(h, 'o1', 'weave');
      expect(ipInCidr(o1.IPAddress, '10.48.0.0/16'), o1.IPAddress).to.equal(true);
      expect((await h.docker('exec', 'o1', 'cat', '/sys/class/net/eth0/mtu')).stdout.trim()).to.equal('1400');
      expect(await pingFrom(h, 'o2', o1.IPAddress)).to.equal(true);
      await h.docker('rm', '-f', 'o1', 'o2');
      await h.docker('network', 'rm', 'weave');
    } finally {
      await h.tryDocker(['rm', '-f', 'o1', 'o2']);
      await h.tryWeave(['stop', '--status-addr', statusAddr, '--data-dir', dataDir]);
    }
    expect(pidAlive(pid), 'stopped by `weave stop` with the same options').to.equal(false);
  });

  it('with --no-default-network creates no Docker network', async function () {
    const pid = await launchWeave(h, '--no-default-network');
    try {
      const st = await weaveStatus(h);
      expect(st.pid).to.equal(pid);
      expect(st.defaultNetwork.state).to.not.be.oneOf(['created', 'exists', 'pending']);
      // with the option off the daemon would create it within a moment of answering; give it one
      await sleep(1500);
      expect(await dockerNetworkNames(h)).to.not.include('weave');
      // custom networks still work
      await h.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', 'own');
      await h.docker('run', '--rm', '--network', 'own', 'bb', 'true');
      await h.docker('network', 'rm', 'own');
    } finally {
      await h.tryDocker(['network', 'rm', 'own']);
      await h.tryWeave(['stop']);
    }
    expect(pidAlive(pid)).to.equal(false);
  });

  it('refuses invalid options naming them, and starts nothing', async function () {
    for (const [args, field] of [
      [['--mtu', '100'], 'mtu'],
      [['--ipalloc-range', '10.32.0.0'], 'ipallocRange'],
      [['--status-addr', 'localhost'], 'statusAddr'],
    ] as const) {
      const r = await h.tryWeave(['launch', ...args, '--no-default-network'], { timeoutMs: 30_000 });
      expect(r.code, `launch ${args.join(' ')}`).to.not.equal(0);
      expect(r.stdout + r.stderr).to.include(field);
    }
    expect((await h.tryWeave(['status'], { timeoutMs: 10_000 })).code, 'no daemon answers').to.not.equal(0);
    expect(existsSync(join(h.files.weaveData, 'weave.pid')) && pidAlive(Number(readFileSync(join(h.files.weaveData, 'weave.pid'), 'utf8'))),
      'no daemon behind a PID file').to.equal(false);
  });

  it('does not start a second daemon when one runs', async function () {
    const pid = await launchWeave(h);
    try {
      await waitForDockerNetwork(h, 'weave');
      const again = await h.weave('launch');
      expect(again.stdout).to.include(String(pid));
      const st = await weaveStatus(h);
      expect(st.pid).to.equal(pid);
      // a `weave daemon` in the foreground must refuse too, not steal the socket
      const second = await h.tryWeave(['daemon'], { timeoutMs: 15_000 });
      expect(second.code, 'second foreground daemon').to.not.equal(0);
      expect(second.timedOut).to.equal(false);
      await waitFor(async () => (await weaveStatus(h)).pid === pid, { timeoutMs: 5000, what: 'the first daemon to keep answering' });
      await h.docker('run', '--rm', '--network', 'weave', 'bb', 'true');
    } finally {
      await h.tryWeave(['stop']);
    }
  });
});
