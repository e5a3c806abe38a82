// The Dockerfile route of packaging, which nothing else builds: packaging/check-dockerfile.sh
// builds it against a stand-in for node:20-bookworm-slim (no image registry here) in a throwaway
// dockerd in the root network namespace, checks the image and turns it into a plugin directory.
// About 1-2 minutes; it needs Debian's mirror and the npm registry.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive } from '../harness/host-processes.ts';
import { REPO_ROOT } from '../harness/repo-root.ts';
import { requireRoot } from '../harness/require-root.ts';
import { requireTools } from '../harness/require-tools.ts';
import { runCommand } from '../harness/run-command.ts';

const SCRIPT = join(REPO_ROOT, 'packaging', 'check-dockerfile.sh');
/** Measured 70-130 s on the 2-core CI machine (130 s when the minbase tarball is rebuilt). */
const SCRIPT_TIMEOUT_MS = 420_000;

interface ScriptRun {
  pid: number;
  code: number | null;
  output: string;
}

/** Not runCommand: its timeout is a SIGKILL, which the script cannot clean up after. A SIGTERM
 *  lets it stop its dockerd and remove its files, which takes seconds. */
function runScript(): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    let killTimer: NodeJS.Timeout | undefined;
    const termTimer = setTimeout(() => {
      output += `\n[test] no result after ${SCRIPT_TIMEOUT_MS / 1000} s: SIGTERM\n`;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    }, SCRIPT_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(termTimer);
      clearTimeout(killTimer);
      resolve({ pid: child.pid ?? -1, code, output });
    });
  });
}

/** What the root network namespace looks like to a network-safety check: links and their
 *  addresses, main-table routes, forwarding. The script's dockerd may change none of it. */
async function rootNetwork(): Promise<string> {
  const parts = await Promise.all([
    runCommand('ip', ['-br', 'addr']),
    runCommand('ip', ['-4', 'route']),
    runCommand('ip', ['-6', 'route']),
    runCommand('sysctl', ['-n', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']),
  ]);
  return parts.map((r) => r.stdout).join('--\n');
}

describe('packaging: the Dockerfile builds, and its image works (root, Debian mirror + npm registry)', function () {
  this.timeout(SCRIPT_TIMEOUT_MS + 90_000);

  before(function () {
    requireRoot('the Dockerfile check');
    requireTools(['dockerd', 'docker', 'debootstrap', 'unshare', 'setsid', 'tar']);
  });

  it('builds weave:latest with packaging/check-dockerfile.sh, which checks the image and the plugin directory and leaves nothing behind', async function () {
    const networkBefore = await rootNetwork();
    const run = await runScript();
    expect(run.code, `check-dockerfile.sh failed:\n${run.output}`).to.equal(0);

    const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(run.output).to.include(`weave version in the image: ${version} (= package.json)`);
    expect(run.output).to.include('docker plugin create accepted it');

    const work = /files under (\/tmp\/wv-dfc\.\w+)/.exec(run.output)?.[1];
    const dockerdPid = Number(/dockerd pid (\d+)/.exec(run.output)?.[1]);
    expect(work, 'work directory in the output').to.be.a('string');
    expect(existsSync(work!), `${work} removed`).to.equal(false);
    const stillDockerd = pidAlive(dockerdPid) && readFileSync(`/proc/${dockerdPid}/comm`, 'utf8').trim() === 'dockerd';
    expect(stillDockerd, `dockerd ${dockerdPid} stopped`).to.equal(false);
    const cgroup = `weave-dfcheck-${run.pid}`;
    const cgroups = ['', ...readdirSync('/sys/fs/cgroup')].map((c) => join('/sys/fs/cgroup', c, cgroup)).filter((d) => existsSync(d));
    expect(cgroups, 'build cgroups removed').to.deep.equal([]);
    expect(await rootNetwork(), 'root netns unchanged').to.equal(networkBefore);
  });
});
