// Container mode: the same rootfs imported as an image (no registry), the daemon run with
// `docker run --net=host --cap-add ... weave daemon`, serving Docker as a legacy plugin on
// the host's /run/docker/plugins and creating the default network through the mounted API.
import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { REPO_ROOT, requireBuiltCli } from '../harness/repo-root.ts';
import { requireRoot } from '../harness/require-root.ts';
import { waitFor } from '../harness/wait.ts';
import { hostVeths, pingFrom, waitForDockerNetwork, weaveStatus } from '../harness/weave-probes.ts';
import { buildPluginDir } from './packaging-lab.ts';
import type { PluginBuild } from './packaging-lab.ts';

const IMAGE = 'weave:latest';

/** The command line docs/packaging.md gives for container mode, with the plugin's capabilities
 *  spelled out instead of --privileged: this machine's capability bounding set lacks
 *  CAP_SYS_RESOURCE, and a privileged container asks for every capability, so runc refuses it
 *  here ("unable to apply caps"). The daemon needs no more than these. */
function runWeaveContainerArgs(): string[] {
  return [
    'run', '-d', '--name', 'weave', '--net=host', '--restart=unless-stopped',
    '--cap-add', 'NET_ADMIN', '--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_RAW', '--device', '/dev/net/tun',
    '-v', '/run/docker/plugins:/run/docker/plugins',
    '-v', '/var/lib/weave:/var/lib/weave',
    '-v', '/var/run/docker.sock:/var/run/docker.sock',
    '-v', '/etc/machine-id:/etc/machine-id:ro',
    IMAGE, 'weave', 'daemon',
  ];
}

/** Every regular file and symlink under `dir`, relative, with its size (links: their target). */
function tree(dir: string, under: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), e.isSymbolicLink() ? 'link' : String(statSync(p).size));
    }
  };
  walk(join(dir, under));
  return out;
}

async function ipOn(h: LabHost, container: string, network: string): Promise<string> {
  return (await h.docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container)).stdout.trim();
}

describe('packaging: the daemon as a container from the imported rootfs (root)', function () {
  this.timeout(120_000);
  let build: PluginBuild | undefined;
  let lab: Lab | undefined;
  let h: LabHost;

  before(async function () {
    requireRoot('the container-mode end-to-end suite');
    requireBuiltCli();
    build = await buildPluginDir();
    // the one-time host setting of docs/dns.md, so containers ask weaveDNS what Docker does not know
    lab = await Lab.up({ hosts: 1, daemonJson: { dns: ['169.254.53.53'] } });
    h = lab.host(1);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && lab) {
      console.log(`--- docker logs weave (tail)\n${(await h.tryDocker(['logs', '--tail', '30', 'weave'])).stderr}`);
    }
  });

  after(async function () {
    try {
      await lab?.down();
    } finally {
      build?.remove();
    }
  });

  it('imports the rootfs as an image (packaging/import-image.sh) and runs `weave daemon` in it', async function () {
    await h.exec('bash', [join(REPO_ROOT, 'packaging', 'import-image.sh'), join(build!.dir, 'rootfs'), IMAGE], { timeoutMs: 120_000 });
    await h.docker(...runWeaveContainerArgs());
    // the legacy socket on the host, the status API in the host netns, the default network
    // created through the mounted Docker API once the daemon is up
    await waitFor(async () => (await h.tryWeave(['status', '--json'])).code === 0, { timeoutMs: 30_000, intervalMs: 200, what: 'weave in the container to answer' });
    await waitForDockerNetwork(h, 'weave');
    const st = await weaveStatus(h);
    expect(st.plugin.socket).to.equal('/run/docker/plugins/weave.sock');
    expect(st.defaultNetwork.state).to.equal('created');
    // the CLI inside the image talks to the same daemon
    expect((await h.docker('exec', 'weave', 'weave', 'status')).stdout).to.match(/Bridge: weave \(mtu 1376, up\)/);
    // and so does a throwaway CLI container, the way to run `weave status` on a host without a checkout
    expect((await h.docker('run', '--rm', '--net=host', IMAGE, 'weave', 'status', 'peers')).stdout).to.match(/\(host1\)/);
  });

  it('refuses `weave stop` on the host: the PID the daemon reports is from the PID namespace of the container', async function () {
    expect((await weaveStatus(h)).pid, 'PID inside the container').to.equal(1);
    // A CLI built without the check would SIGTERM this machine's PID 1 (the lab has no PID
    // namespace); make sure the build under test has it before calling it.
    expect(readFileSync(join(REPO_ROOT, 'dist', 'cli', 'stop.js'), 'utf8'), 'dist/ is older than the PID-namespace check: rebuild').to.include('isWeaveDaemon(pid)');
    const r = await h.tryWeave(['stop']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/not a weave daemon in this PID namespace/);
    expect((await h.docker('inspect', '-f', '{{.State.Running}}', 'weave')).stdout.trim()).to.equal('true');
  });

  it('turns the image back into the same plugin rootfs with build-plugin.sh --from-image (the Dockerfile route)', async function () {
    const out = mkdtempSync(join(tmpdir(), 'wv-plugin-from-image-'));
    try {
      await h.exec('bash', [join(REPO_ROOT, 'packaging', 'build-plugin.sh'), '--from-image', IMAGE, out], { timeoutMs: 120_000 });
      expect(readFileSync(join(out, 'config.json'), 'utf8')).to.equal(readFileSync(join(REPO_ROOT, 'config.json'), 'utf8'));
      expect(statSync(join(out, 'rootfs', 'run', 'docker', 'plugins')).isDirectory()).to.equal(true);
      for (const under of ['app', 'usr', 'lib', 'lib64']) {
        expect(tree(join(out, 'rootfs'), under), under).to.deep.equal(tree(join(build!.dir, 'rootfs'), under));
      }
      expect((await h.docker('ps', '-aq', '--filter', `ancestor=${IMAGE}`)).stdout.trim().split('\n'), 'only the weave container, no leftover').to.have.length(1);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('connects two containers on the default network; they keep talking while the weave container is stopped and after it starts again', async function () {
    await h.docker('run', '-d', '--name', 'ca', '--network', 'weave', 'bb', 'sleep', '1d');
    await h.docker('run', '-d', '--name', 'cb', '--network', 'weave', 'bb', 'sleep', '1d');
    const ipA = await ipOn(h, 'ca', 'weave');
    const ipB = await ipOn(h, 'cb', 'weave');
    expect(ipA).to.match(/^10\.32\.\d+\.\d+$/);
    expect(await pingFrom(h, 'ca', ipB)).to.equal(true);
    // weaveDNS runs in the container too: Docker forwards the weave.local name to it
    await waitFor(async () => (await h.tryDocker(['exec', 'ca', 'nslookup', 'cb.weave.local'])).stdout.includes(ipB) || undefined, { timeoutMs: 10_000, what: 'cb.weave.local from ca' });

    await h.docker('stop', '-t', '5', 'weave');
    expect((await h.tryWeave(['status', '--json'])).code, 'daemon stopped').to.not.equal(0);
    expect(await pingFrom(h, 'cb', ipA), 'ping while weave is stopped').to.equal(true);
    await h.docker('start', 'weave');
    await waitFor(async () => (await h.tryWeave(['status', '--json'])).code === 0, { timeoutMs: 30_000, intervalMs: 200, what: 'weave to answer after the start' });
    expect((await weaveStatus(h)).plugin.endpoints).to.equal(2);
    expect(await pingFrom(h, 'cb', ipA)).to.equal(true);

    await h.docker('rm', '-f', 'ca', 'cb');
    expect((await weaveStatus(h)).plugin.endpoints).to.equal(0);
    expect(await hostVeths(h)).to.deep.equal([]);
  });
});
