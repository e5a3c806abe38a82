// The managed ("v2") plugin, end to end: the plugin directory is built from this machine without
// any registry, created and enabled in real lab dockerds, drives networks and containers, keeps
// them working across disable/enable, and takes its settings from `docker plugin set`.
import { expect } from 'chai';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { REPO_ROOT, requireBuiltCli } from '../harness/repo-root.ts';
import { requireRoot } from '../harness/require-root.ts';
import { runCommand } from '../harness/run-command.ts';
import { waitFor } from '../harness/wait.ts';
import { hostVeths, pingFrom, routerStatus, weaveStatus } from '../harness/weave-probes.ts';
import { PLUGIN, buildPluginDir, inspectPlugin, installPlugin, pluginLogLines, waitForPluginDaemon } from './packaging-lab.ts';
import type { PluginBuild } from './packaging-lab.ts';

/** Not the default 10.32.0.0/12, so the status shows the setting took; covers the app subnet. */
const RANGE = '10.40.0.0/13';

/** One subnet on every host, a disjoint range per host: each host's IPAM is still single-peer. */
async function createAppNetwork(h: LabHost, k: number): Promise<void> {
  await h.docker('network', 'create', '-d', PLUGIN, '--ipam-driver', PLUGIN, '--subnet', '10.40.0.0/16', '--ip-range', `10.40.${k}.0/24`, 'app');
}

async function runOnApp(h: LabHost, name: string): Promise<string> {
  await h.docker('run', '-d', '--name', name, '--network', 'app', 'bb', 'sleep', '1d');
  return (await h.docker('inspect', '-f', '{{.NetworkSettings.Networks.app.IPAddress}}', name)).stdout.trim();
}

describe('packaging: the managed plugin weave:latest in real dockerds (root)', function () {
  this.timeout(120_000);
  let build: PluginBuild | undefined;
  let lab: Lab | undefined;
  let h1: LabHost;
  let h2: LabHost;
  const ip: Record<string, string> = {};

  before(async function () {
    requireRoot('the managed-plugin end-to-end suite');
    requireBuiltCli();
    build = await buildPluginDir();
    // the one-time host setting of docs/dns.md, so containers ask weaveDNS what Docker does not know
    lab = await Lab.up({ hosts: 2, daemonJson: { dns: ['169.254.53.53'] } });
    h1 = lab.host(1);
    h2 = lab.host(2);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && lab) {
      for (const h of [h1, h2]) {
        const log = readFileSync(h.files.dockerdLog, 'utf8').split('\n').filter((l) => l.includes('plugin=')).slice(-30).join('\n');
        console.log(`--- ${h.name} plugin log lines from dockerd.log (tail)\n${log}`);
      }
    }
  });

  after(async function () {
    try {
      await lab?.down();
    } finally {
      build?.remove();
    }
  });

  it('builds config.json + rootfs from this machine: node and its libraries, dist, the addon, production node_modules only', async function () {
    const dir = build!.dir;
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).to.deep.equal(JSON.parse(readFileSync(join(REPO_ROOT, 'config.json'), 'utf8')));
    const rootfs = join(dir, 'rootfs');
    // Docker refuses to start a plugin whose rootfs lacks the socket directory
    expect(statSync(join(rootfs, 'run', 'docker', 'plugins')).isDirectory()).to.equal(true);
    for (const f of ['usr/bin/node', 'app/bin/weave.js', 'app/dist/cli/main.js', 'app/datapath/native/build/Release/weave_native.node', 'app/node_modules/express/package.json', 'app/node_modules/sodium-native/package.json']) {
      expect(existsSync(join(rootfs, f)), f).to.equal(true);
    }
    for (const devOrBuildOnly of ['mocha', 'typescript', 'tsx', 'node-gyp', 'node-addon-api', 'chai']) {
      expect(existsSync(join(rootfs, 'app', 'node_modules', devOrBuildOnly)), devOrBuildOnly).to.equal(false);
    }
    // self-contained: the CLI runs with nothing but the rootfs (its own loader and libraries)
    const r = await runCommand('chroot', [rootfs, '/usr/bin/weave', 'version'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(r.stdout.trim()).to.equal(version);
  });

  it('is created (IPALLOC_RANGE set) and enabled by the engine, which dials it at /run/docker/plugins/<id>/weave.sock', async function () {
    await installPlugin(h1, build!.dir, [`IPALLOC_RANGE=${RANGE}`]);
    const p = await inspectPlugin(h1);
    expect(p.Enabled).to.equal(true);
    expect(p.Config.Interface.Types).to.have.members(['docker.networkdriver/1.0', 'docker.ipamdriver/1.0']);
    expect(existsSync(join(h1.files.run, 'docker', 'plugins', p.Id, 'weave.sock')), 'socket under the plugin id').to.equal(true);
    expect(existsSync(join(h1.files.run, 'docker', 'plugins', 'weave.sock')), 'no legacy socket').to.equal(false);
    // the daemon inside: host netns (the host's own CLI reaches it), state on the host's
    // /var/lib/weave through the `state` mount, no default network without the Docker API
    const st = await weaveStatus(h1);
    expect(st.dataDir).to.equal('/var/lib/weave');
    expect(st.ipam.range, 'IPALLOC_RANGE set before the first enable').to.equal(RANGE);
    expect(st.defaultNetwork.state).to.equal('disabled');
    expect(st.bridge).to.include({ name: 'weave', up: true });
    expect(existsSync(join(h1.files.weaveData, 'peer.json')), 'peer name persisted on the host').to.equal(true);
  });

  it('serves a network with weave:latest as driver and IPAM: two containers ping each other', async function () {
    await createAppNetwork(h1, 1);
    ip.c1 = await runOnApp(h1, 'c1');
    ip.c2 = await runOnApp(h1, 'c2');
    expect(ip.c1).to.match(/^10\.40\.1\.\d+$/);
    expect(ip.c2).to.match(/^10\.40\.1\.\d+$/);
    expect(await pingFrom(h1, 'c1', ip.c2)).to.equal(true);
    expect(await pingFrom(h1, 'c2', ip.c1)).to.equal(true);
    expect((await weaveStatus(h1)).plugin.endpoints).to.equal(2);
    expect(await hostVeths(h1)).to.have.length(2);
  });

  it('keeps running containers talking across disable -f / enable, and serves new ones after', async function () {
    const before = await inspectPlugin(h1);
    await h1.docker('plugin', 'disable', '-f', PLUGIN);
    expect((await inspectPlugin(h1)).Enabled).to.equal(false);
    expect((await h1.tryWeave(['status', '--json'])).code, 'daemon gone while disabled').to.not.equal(0);
    expect(await pingFrom(h1, 'c1', ip.c2!), 'ping while the plugin is disabled').to.equal(true);

    await h1.docker('plugin', 'enable', PLUGIN);
    await waitForPluginDaemon(h1);
    expect((await inspectPlugin(h1)).Id).to.equal(before.Id);
    const st = await weaveStatus(h1);
    expect(st.plugin.endpoints, 'endpoints reloaded from the state mount').to.equal(2);
    expect(await pingFrom(h1, 'c2', ip.c1!)).to.equal(true);
    ip.c3 = await runOnApp(h1, 'c3');
    expect(await pingFrom(h1, 'c3', ip.c1!)).to.equal(true);
    expect(new Set([ip.c1, ip.c2, ip.c3]).size, 'no address handed out twice').to.equal(3);
  });

  it('refuses docker plugin set while enabled, as the engine requires', async function () {
    const r = await h1.tryDocker(['plugin', 'set', PLUGIN, 'LOG_LEVEL=debug']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/enabled|active/i);
  });

  it('applies docker plugin set: WEAVE_PASSWORD, WEAVE_PEERS, LOG_LEVEL and args join host1 to host2 encrypted, containers ping across', async function () {
    await h1.docker('plugin', 'disable', '-f', PLUGIN);
    await h1.docker('plugin', 'set', PLUGIN, 'WEAVE_PEERS=198.18.0.2', 'WEAVE_PASSWORD=s3cret', 'LOG_LEVEL=debug', 'args.value=--nickname plugin-h1 --conn-limit 10');
    await h1.docker('plugin', 'enable', PLUGIN);
    await waitForPluginDaemon(h1);
    const p = await inspectPlugin(h1);
    expect(p.Settings.Env).to.include.members(['WEAVE_PEERS=198.18.0.2', 'WEAVE_PASSWORD=s3cret', 'LOG_LEVEL=debug']);
    // args.value is split on spaces and appended to the entrypoint
    const router = (JSON.parse((await h1.weave('status', '--json')).stdout) as { router: { NickName: string } }).router;
    expect(router.NickName).to.equal('plugin-h1');
    // host2 joins before it allocates anything, as a new Weave peer must (a peer that allocated
    // on its own first has a different IPAM ring and is refused)
    await installPlugin(h2, build!.dir, ['WEAVE_PASSWORD=s3cret', `IPALLOC_RANGE=${RANGE}`]);

    const conn = await waitFor(
      async () => (await routerStatus(h1)).Connections.find((c) => c.State === 'established'),
      { timeoutMs: 30_000, intervalMs: 300, what: 'host1 to connect to host2' },
    );
    expect(conn.Address).to.match(/^198\.18\.0\.2:/);
    expect(conn.Attrs?.encrypted, 'password taken from the plugin setting').to.equal(true);
    await createAppNetwork(h2, 2);
    ip.d1 = await runOnApp(h2, 'd1');
    expect(await pingFrom(h1, 'c1', ip.d1, 2), 'c1 (host1) -> d1 (host2)').to.equal(true);
    expect(await pingFrom(h2, 'd1', ip.c2!, 2), 'd1 (host2) -> c2 (host1)').to.equal(true);
    // weaveDNS in the plugin: host1's container by name from host2, with no flag on docker run
    await waitFor(async () => (await h2.tryDocker(['exec', 'd1', 'nslookup', 'c1.weave.local'])).stdout.includes(ip.c1!) || undefined, { timeoutMs: 15_000, what: 'c1.weave.local from d1 on host2' });
    const byName = await h2.tryDocker(['exec', 'd1', 'ping', '-c1', '-W3', 'c1']);
    expect(byName.code, `d1 pings c1 by name:\n${byName.stdout}${byName.stderr}`).to.equal(0);
    const lines = pluginLogLines(readFileSync(h1.files.dockerdLog, 'utf8'), p.Id);
    expect(lines.some((l) => l.includes('\\"level\\":\\"debug\\"')), 'debug lines once LOG_LEVEL=debug').to.equal(true);
  });

  it('comes back with the engine: after a dockerd restart the plugin is enabled with its settings and serves restarted containers', async function () {
    await h1.restartEngine(60_000);
    await waitForPluginDaemon(h1);
    const p = await inspectPlugin(h1);
    expect(p.Enabled).to.equal(true);
    expect(p.Settings.Env).to.include('WEAVE_PEERS=198.18.0.2');
    // the containers had no restart policy, so the engine stopped them; starting them joins again
    await h1.docker('start', 'c1', 'c2');
    const c1 = (await h1.docker('inspect', '-f', '{{.NetworkSettings.Networks.app.IPAddress}}', 'c1')).stdout.trim();
    const c2 = (await h1.docker('inspect', '-f', '{{.NetworkSettings.Networks.app.IPAddress}}', 'c2')).stdout.trim();
    expect(await pingFrom(h1, 'c1', c2)).to.equal(true);
    // c1 came back with its address but a new endpoint, hence a new MAC (the kernel picks it, as
    // for every weave endpoint); d1 may still hold the old one in its ARP cache, and Linux only
    // re-resolves after its delay-probe cycle (about 5 s + 3 probes), while host1's daemon
    // reconnects at the same time: a bounded wait, printed, is what a user sees
    const t0 = Date.now();
    try {
      await waitFor(async () => (await pingFrom(h2, 'd1', c1, 1)) || undefined, { timeoutMs: 20_000, intervalMs: 500, what: 'host2 (d1) to reach the restarted c1 again' });
    } catch (e) {
      const show = async (h: typeof h1, label: string, cmd: string[]): Promise<void> => {
        const r = await h.exec(cmd[0]!, cmd.slice(1), { allowFail: true });
        console.log(`--- ${label}: ${cmd.join(' ')}\n${r.stdout}${r.stderr}`);
      };
      await show(h1, 'host1', ['docker', 'exec', 'c1', 'ip', 'addr']);
      await show(h1, 'host1', ['docker', 'exec', 'c1', 'ip', 'neigh']);
      await show(h2, 'host2', ['docker', 'exec', 'd1', 'ip', 'neigh']);
      await show(h1, 'host1', ['bridge', 'fdb', 'show', 'br', 'weave']);
      await show(h1, 'host1', ['ip', '-br', 'link']);
      await show(h1, 'host1', ['nft', 'list', 'table', 'bridge', 'weave']);
      throw e;
    }
    console.log(`      d1 (host2) reaches the restarted c1 after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  it('leaves no endpoint or veth once containers and the network are gone, and can be disabled and removed', async function () {
    for (const [h, names] of [[h1, ['c1', 'c2', 'c3']], [h2, ['d1']]] as const) {
      await h.docker('rm', '-f', ...names);
      await h.docker('network', 'rm', 'app');
      const st = await weaveStatus(h);
      expect(st.plugin.endpoints, h.name).to.equal(0);
      expect(st.plugin.networks, h.name).to.deep.equal([]);
      expect(await hostVeths(h), h.name).to.deep.equal([]);
      await h.docker('plugin', 'disable', PLUGIN);
      await h.docker('plugin', 'rm', PLUGIN);
      expect((await h.docker('plugin', 'ls', '-q')).stdout.trim(), h.name).to.equal('');
    }
  });
});
