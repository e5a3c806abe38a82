// Security checks (issue #15): with a password nothing readable crosses the wire (a capture on the
// lab's wire bridge, which sees every host's traffic); a peer with a wrong or no password is
// refused and both ends say why; the status API answers this host only; the plugin socket, the
// data dir and its files are not world-writable even for a daemon launched under umask 000, and the
// password shows up in no file, argv, status or log.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { REPO_ROOT, WEAVE_BIN, requireBuiltCli } from '../harness/repo-root.ts';
import { requireRoot } from '../harness/require-root.ts';
import { requireTools } from '../harness/require-tools.ts';
import { runCommand } from '../harness/run-command.ts';
import { sleep, waitFor } from '../harness/wait.ts';
import { DAEMON_LOG, containerEndpoint, daemonLogTail, pluginSocketFromRoot, waitForDockerNetwork } from '../harness/weave-probes.ts';
import { statusJson } from './chaos-state.ts';

const PASSWORD = 'Wv-s3cret-pw-4711';
const MARKER = 'WVPLAINTEXTMARKER4711';
/** A container name: weaveDNS gossips it to every peer, so it crosses the wire in the control plane. */
const DNS_NAME = 'wvsecretname4711';

/** `weave launch` as a careless init script would run it: umask 000. */
async function launchUnderUmask0(h: LabHost, args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  const r = await h.exec('sh', ['-c', 'umask 000; exec "$0" "$@"', process.execPath, WEAVE_BIN, 'launch', ...args], { cwd: REPO_ROOT, env });
  return Number(/(\d+)\)?\s*$/.exec(r.stdout.trim())?.[1]);
}

/** World-writable things among `paths` and everything under the directories among them. */
function worldWritable(paths: string[]): string[] {
  const out: string[] = [];
  const visit = (p: string): void => {
    const st = statSync(p);
    if ((st.mode & 0o002) !== 0) out.push(`${p} (${(st.mode & 0o7777).toString(8)})`);
    if (st.isDirectory()) for (const e of readdirSync(p)) visit(join(p, e));
  };
  for (const p of paths) visit(p);
  return out;
}

describe('security: encryption on the wire, refused peers, the status API, file modes (root)', function () {
  this.timeout(180_000);
  let lab: Lab | undefined;
  let h: LabHost[] = [];
  let capDir: string | undefined;
  let pcap = '';

  before(async function () {
    requireRoot('the security suite');
    requireBuiltCli();
    requireTools(['tcpdump', 'tshark', 'curl', 'nsenter']);
    lab = await Lab.up({ hosts: 4 });
    h = [lab.host(1), lab.host(2), lab.host(3), lab.host(4)];
    // host1 gets the password in the environment (the recommended way), host2 on the command line;
    // host3 has a wrong one and host4 none. All launched under umask 000.
    await launchUnderUmask0(h[0]!, [], { WEAVE_PASSWORD: PASSWORD });
    await h[0]!.docker('run', '-d', '--name', DNS_NAME, '--network', 'weave', 'bb', 'sleep', '1d');
    // everything between host2 and host1 from here on crosses the capture: the handshake, the
    // gossip (the DNS name included) and the containers' traffic
    capDir = mkdtempSync(join(tmpdir(), 'wv-sec-'));
    pcap = join(capDir, 'wire.pcap');
    const cap: ChildProcess = spawn('ip', ['netns', 'exec', lab.layout.wireNetns, 'tcpdump', '-i', 'br0', '-U', '--immediate-mode', '-s', '0', '-w', pcap], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => cap.once('exit', () => resolve()));
    try {
      await waitFor(() => { try { return statSync(pcap).size > 0; } catch { return false; } }, { timeoutMs: 10_000, intervalMs: 100, what: 'tcpdump on the wire' });
      await Promise.all([
        launchUnderUmask0(h[1]!, ['--password', PASSWORD, '198.18.0.1']),
        launchUnderUmask0(h[2]!, ['198.18.0.1'], { WEAVE_PASSWORD: 'not-the-password' }),
        launchUnderUmask0(h[3]!, ['198.18.0.1'], { WEAVE_PASSWORD: '' }),
      ]);
      await waitForDockerNetwork(h[1]!, 'weave');
      await h[1]!.docker('run', '-d', '--name', 'c2', '--network', 'weave', 'bb', 'sleep', '1d');
      await waitFor(async () => (await h[1]!.exec('curl', ['-s', '-m', '3', `http://127.0.0.1:6784/dns/lookup/${DNS_NAME}`], { allowFail: true })).stdout.trim() !== '',
        { timeoutMs: 30_000, intervalMs: 300, what: `host2 to learn ${DNS_NAME} by gossip` });
      const ip1 = (await containerEndpoint(h[0]!, DNS_NAME, 'weave')).IPAddress;
      await h[0]!.docker('exec', '-d', DNS_NAME, 'sh', '-c', 'nc -l -p 5000 > /tmp/got');
      await waitFor(async () => (await h[1]!.tryDocker(['exec', 'c2', 'sh', '-c', `echo ${MARKER} | nc -w 2 ${ip1} 5000`])).code === 0, { timeoutMs: 20_000, intervalMs: 500, what: 'the marker sent' });
      await waitFor(async () => (await h[0]!.tryDocker(['exec', DNS_NAME, 'cat', '/tmp/got'])).stdout.includes(MARKER), { timeoutMs: 10_000, what: 'the marker received' });
      await sleep(300);
    } finally {
      if (cap.pid !== undefined) process.kill(cap.pid, 'SIGINT');
      await exited;
    }
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') for (const x of h) console.log(`--- ${x.name} weave.log (tail)\n${daemonLogTail(x, 25)}`);
  });

  after(async function () {
    if (capDir) rmSync(capDir, { recursive: true, force: true });
    await lab?.down();
  });

  it('carries nothing readable on the wire with a password: no payload, no gossiped name, no password', async function () {
    const bytes = readFileSync(pcap);
    // tshark, independent of our code, says what the capture holds: weave's TCP and UDP on 6783
    const fields = (await runCommand('tshark', ['-r', pcap, '-T', 'fields', '-E', 'separator=;', '-e', 'tcp.port', '-e', 'tcp.len', '-e', 'udp.port', '-e', 'udp.length'])).stdout
      .split('\n').filter(Boolean).map((l) => l.split(';'));
    const tcp = fields.filter(([tp, tl]) => tp!.split(',').includes('6783') && Number(tl) > 0).length;
    const udp = fields.filter(([, , up, ul]) => up!.split(',').includes('6783') && Number(ul) > 100).length;
    const vxlan = fields.filter(([, , up]) => up!.split(',').includes('6784')).length;
    console.log(`      wire capture: ${bytes.length} bytes; TCP 6783 segments with data ${tcp}, UDP 6783 datagrams > 100 bytes ${udp}, UDP 6784 ${vxlan}`);
    expect(tcp, 'control traffic captured').to.be.greaterThan(5);
    expect(udp, 'sleeve traffic captured').to.be.greaterThan(3);
    expect(vxlan, 'fastdp is off with a password').to.equal(0);
    // the handshake's header is plaintext by Weave's design: proof that payloads are visible to the capture
    expect(bytes.includes(Buffer.from('weave')), 'plaintext protocol header in the capture').to.equal(true);
    for (const secret of [MARKER, DNS_NAME, PASSWORD]) expect(bytes.includes(Buffer.from(secret)), `${secret} on the wire`).to.equal(false);
  });

  it('refuses a peer with a wrong password and one with none, each end saying why', async function () {
    const reasons: string[] = [];
    for (const [k, label] of [[2, 'wrong password'], [3, 'no password']] as const) {
      const x = h[k]!;
      const failed = await waitFor(async () => (await statusJson(x))?.router?.Connections.find((c) => c.State === 'failed' || c.State === 'retrying'),
        { timeoutMs: 30_000, intervalMs: 300, what: `${x.name} (${label}) to report its refused connection` });
      const hostLog = await waitFor(() => readFileSync(join(h[0]!.files.weaveData, DAEMON_LOG), 'utf8').split('\n')
        .find((l) => l.includes(`"from":"${x.address}:`) && /password/i.test(l)),
      { timeoutMs: 20_000, intervalMs: 300, what: `host1's log to say why ${x.name} (${label}) was refused` });
      reasons.push(`${label}: ${x.name}'s status "${failed.Info}"; host1's log ${hostLog}`);
      expect(failed.Info, `${x.name}'s status (${label})`).to.match(/password/i);
    }
    const text = (await h[2]!.weave('status', 'connections')).stdout;
    expect(text, 'weave status connections on host3').to.match(/passwords differ/);
    const peers = (await statusJson(h[0]!))?.router?.Connections.filter((c) => c.State === 'established').map((c) => c.Info) ?? [];
    expect(peers, 'host1 is connected to host2 only').to.have.length(1);
    expect(peers[0]).to.include('(host2)');
    for (const r of reasons) console.log(`      ${r}`);
  });

  it('answers the status API on this host only: not from another host, not from a container through an exposed address', async function () {
    expect((await h[0]!.exec('curl', ['-s', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:6784/status'])).stdout).to.equal('200');
    const fromHost = await h[1]!.exec('curl', ['-s', '-m', '3', 'http://198.18.0.1:6784/status'], { allowFail: true });
    expect(fromHost.code, `curl from host2: ${fromHost.stdout}`).to.not.equal(0);
    const exposed = (await h[0]!.weave('expose')).stdout.trim().split('\n')[0]!.split('/')[0]!;
    try {
      // the container reaches the host's exposed address, but not the API behind it
      await waitFor(async () => (await h[1]!.tryDocker(['exec', 'c2', 'ping', '-c', '1', '-W', '2', exposed])).code === 0, { timeoutMs: 15_000, intervalMs: 500, what: `c2 to reach ${exposed}` });
      const fromContainer = await h[1]!.tryDocker(['exec', 'c2', 'wget', '-q', '-T', '3', '-O', '-', `http://${exposed}:6784/status`]);
      expect(fromContainer.code, `wget from a container on host2: ${fromContainer.stdout}`).to.not.equal(0);
      const sameHost = await h[0]!.tryDocker(['exec', DNS_NAME, 'wget', '-q', '-T', '3', '-O', '-', `http://${exposed}:6784/status`]);
      expect(sameHost.code, `wget from a container on host1: ${sameHost.stdout}`).to.not.equal(0);
    } finally {
      await h[0]!.weave('hide');
    }
  });

  it('keeps the plugin socket, the data dir and its files from being world-writable (daemon launched under umask 000), and the password out of them', async function () {
    const ww: string[] = [];
    for (const x of h) ww.push(...worldWritable([join(pluginSocketFromRoot(x), '..'), x.files.weaveData]));
    expect(ww, 'world-writable').to.deep.equal([]);
    for (const x of h.slice(0, 2)) {
      for (const f of readdirSync(x.files.weaveData)) {
        const text = readFileSync(join(x.files.weaveData, f));
        expect(text.includes(Buffer.from(PASSWORD)), `${x.name}: the password in ${f}`).to.equal(false);
      }
      const st = await statusJson(x);
      expect(st, `${x.name}: status`).to.not.equal(undefined);
      const argv = readFileSync(`/proc/${st!.pid}/cmdline`, 'utf8');
      expect(argv.includes(PASSWORD), `${x.name}: the password in the daemon's argv`).to.equal(false);
      expect(JSON.stringify(st).includes(PASSWORD), `${x.name}: the password in the status`).to.equal(false);
      const metrics = (await x.exec('curl', ['-s', '-m', '3', 'http://127.0.0.1:6784/metrics'])).stdout;
      expect(metrics.includes(PASSWORD), `${x.name}: the password in /metrics`).to.equal(false);
      const env = statSync(`/proc/${st!.pid}/environ`);
      expect(env.mode & 0o077, `${x.name}: /proc/PID/environ (holds WEAVE_PASSWORD) readable by others`).to.equal(0);
    }
  });
});
