// What Docker does while our daemon is stopped. Docker retries a plugin call for ~30 s and then
// goes ahead without us: `docker rm -f` and `docker network rm` succeed, the host end of the
// veth is left behind, and our records still hold the endpoint, its address and the pool.
// A relaunched daemon must notice and clean up, or those leak for good.
import { expect } from 'chai';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { requireBuiltCli } from '../harness/repo-root.ts';
import { requireRoot } from '../harness/require-root.ts';
import { waitFor } from '../harness/wait.ts';
import {
  containerEndpoint, daemonLogTail, dockerNetwork, hostVeths, launchWeave, waitForDockerNetwork, weaveStatus,
} from '../harness/weave-probes.ts';
import type { WeaveStatus } from '../harness/weave-status.ts';

describe('Docker changes while the daemon is stopped (root)', function () {
  this.timeout(150_000);
  let lab: Lab | undefined;
  let h: LabHost;

  before(async function () {
    requireRoot('the daemon-down suite');
    requireBuiltCli();
    lab = await Lab.up({ hosts: 1 });
    h = lab.host(1);
    await launchWeave(h);
    await waitForDockerNetwork(h, 'weave');
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && lab) console.log(`--- ${h.name} weave.log (tail)\n${daemonLogTail(h)}`);
  });

  after(async function () {
    await lab?.down();
  });

  it('are reconciled on relaunch: no veth, endpoint, address or pool of removed things survives', async function () {
    const baseline = await weaveStatus(h);
    const baselineVeths = await hostVeths(h);
    await h.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', 'gone');
    const gone = await dockerNetwork(h, 'gone');
    const goneSubnet = gone.IPAM.Config[0]?.Subnet;
    await h.docker('run', '-d', '--name', 'lost', '--network', 'weave', 'bb', 'sleep', '3600');
    const lost = await containerEndpoint(h, 'lost', 'weave');
    const lostVeth = `vethwl${lost.EndpointID.slice(0, 9)}`;

    await h.weave('stop');
    // both wait out Docker's plugin retries (~30-45 s); run them side by side
    const [rm, netRm] = await Promise.all([
      h.tryDocker(['rm', '-f', 'lost'], { timeoutMs: 120_000 }),
      h.tryDocker(['network', 'rm', 'gone'], { timeoutMs: 120_000 }),
    ]);
    expect(rm.code, `docker rm -f with the daemon stopped: ${rm.stderr}`).to.equal(0);
    expect(netRm.code, `docker network rm with the daemon stopped: ${netRm.stderr}`).to.equal(0);

    await launchWeave(h);
    const leftovers = (st: WeaveStatus, veths: string[]): string[] => {
      const found: string[] = [];
      if (veths.includes(lostVeth)) found.push(`veth ${lostVeth}`);
      if (st.plugin.networks.some((n) => n.id === gone.Id)) found.push(`network record ${gone.Id.slice(0, 12)}`);
      if (st.plugin.endpoints !== baseline.plugin.endpoints) found.push(`${st.plugin.endpoints - baseline.plugin.endpoints} endpoint record(s)`);
      const addrs = st.ipam.pools.flatMap((p) => p.addresses).map((a) => a.split('/')[0]);
      if (addrs.includes(lost.IPAddress)) found.push(`address ${lost.IPAddress}`);
      if (goneSubnet && st.ipam.pools.some((p) => p.subnet === goneSubnet)) found.push(`pool ${goneSubnet}`);
      return found;
    };
    let last: string[] = [];
    await waitFor(async () => {
      last = leftovers(await weaveStatus(h), await hostVeths(h));
      return last.length === 0;
    }, { timeoutMs: 15_000, intervalMs: 500, what: 'the relaunched daemon to drop what Docker removed' }).catch(() => undefined);
    expect(last, 'left behind after relaunch').to.deep.equal([]);
    expect(await hostVeths(h)).to.deep.equal(baselineVeths);
  });
});
