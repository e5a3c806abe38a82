// Host entry of the ODP suites: the host kernel may have no Open vSwitch datapath, so they run
// inside one QEMU guest booted with Debian's kernel (test/vm). Boot plus suite take about a
// minute under TCG; the first run on a machine also downloads the kernel package (~100 MB).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { REPO_ROOT } from '../harness/repo-root.ts';
import { requireRoot } from '../harness/require-root.ts';
import { runInVm } from '../vm/run-in-vm.ts';

describe('ODP backend inside a QEMU guest (test/odp/*.test.ts)', function () {
  this.timeout(30 * 60_000);

  it('the harness runs a command in a guest with the OVS datapath: exit status, stdout, stderr, -w results', async function () {
    requireRoot('the QEMU harness (9p export of /, apt-get)');
    const out = mkdtempSync(join(tmpdir(), 'wv-vm-'));
    try {
      const script = `echo "$(uname -r) $(hostname)"; ls /sys/module | grep -x openvswitch; ip -o link | wc -l; echo oops >&2; echo kept > ${out}/result; touch /tmp/wv-vm-gone; exit 7`;
      const r = await runInVm(['bash', '-c', script], { writable: [out], timeoutSeconds: 300 });
      expect(r.code).to.equal(7);
      const [release, host, module, links] = r.stdout.trim().split(/\s+/);
      expect(release).to.match(/^6\.1\.0-\d+-amd64$/);
      expect(host).to.equal('weave-vm');
      expect(module).to.equal('openvswitch');
      // no network device but loopback: nothing in the guest can reach the outside
      expect(links).to.equal('1');
      expect(r.stderr).to.include('oops');
      expect(readFileSync(join(out, 'result'), 'utf8')).to.equal('kept\n');
      expect(() => readFileSync('/tmp/wv-vm-gone')).to.throw(/ENOENT/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('passes every in-guest suite', async function () {
    requireRoot('the QEMU harness (9p export of /, apt-get)');
    const suites = readdirSync(join(REPO_ROOT, 'test', 'odp'))
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => join('test', 'odp', f));
    expect(suites.length, 'suites in test/odp').to.be.greaterThan(0);
    const mocha = join(REPO_ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js');
    const r = await runInVm(['node', mocha, '--no-config', '--node-option', 'import=tsx', '--timeout', '300000', '--reporter', 'spec', ...suites], {
      cwd: REPO_ROOT,
      timeoutSeconds: 25 * 60,
    });
    if (r.code !== 0) throw new Error(`in-guest suites failed (exit ${r.code}) after ${Math.round(r.durationMs / 1000)} s\n${r.stdout}\n${r.stderr.slice(-6000)}`);
    expect(r.stdout).to.match(/\d+ passing/);
    expect(r.stdout).to.not.match(/\d+ failing/);
  });
});
