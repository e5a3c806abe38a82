// Runs inside the QEMU guest (test/vm; host entry: test/kernel/odp-vm.test.ts), whose Debian
// kernel has ESP. Two "hosts" (netns on a veth underlay, ipsec-lab.ts) run the real daemon with
// the ODP backend and WEAVE_PASSWORD: the fast path is encrypted with kernel IPsec as Weave's is
// (per-direction SAs keyed from the mesh session key, a mark selecting the policy), the
// underlay carries ESP only (pings and iperf3 both ways, read back with tshark), blocking ESP
// sends the connection to encrypted sleeve and unblocking brings it back, and a peer with the
// wrong password never gets an SA.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { waitFor } from '../harness/wait.ts';
import { ip } from './guest-lab.ts';
import { encryptedTrafficTests, espBlockTest, established, ipsecLab, ourSas } from './ipsec-lab.ts';
import type { Host } from './ipsec-lab.ts';

describe('encrypted fastdp (IPsec ESP) between two daemons in the guest', function () {
  this.timeout(600_000);
  const lab = ipsecLab('ipsec', 'odp');
  const { h1, h2, hosts, work, onPath, startDaemon, stopDaemon } = lab;

  it('the connection comes up as encrypted fastdp, with one SA each way and the marked policy', async function () {
    for (const h of hosts) {
      const c = await onPath(h, 'fastdp', 180_000);
      expect(c.Info, h.ns).to.match(/^encrypted\s+fastdp /);
      expect(c.Attrs, h.ns).to.deep.include({ encrypted: true });
      expect(c.Attrs?.reason, h.ns).to.equal(undefined);
      const sas = ourSas(h);
      expect(sas, `${h.ns} SAs`).to.have.length(2);
      for (const sa of sas) expect(sa).to.match(/aead rfc4106\(gcm\(aes\)\) 0x[0-9a-f]{72} 128/).and.match(/flag esn/);
      const policy = ip('-n', h.ns, 'xfrm', 'policy');
      expect(policy, h.ns).to.include('mark 0x20000/0x20000').and.include('proto esp');
    }
    // each direction's key is the same at both ends (same SPI -> same key), and the two differ
    const keyOf = (h: Host, src: string): string => /0x([0-9a-f]{72}) 128/.exec(ourSas(h).find((s) => s.startsWith(`src ${src} `))!)![1]!;
    expect(keyOf(h1, h1.underlay)).to.equal(keyOf(h2, h1.underlay));
    expect(keyOf(h1, h2.underlay)).to.equal(keyOf(h2, h2.underlay));
    expect(keyOf(h1, h1.underlay)).to.not.equal(keyOf(h1, h2.underlay));
  });

  encryptedTrafficTests(lab);

  espBlockTest(lab);

  it('a peer with the wrong password never gets an SA; the old connection\'s SAs are gone', async function () {
    await stopDaemon(h2);
    // h2's own teardown removed its SAs; h1 removes its when the connection drops
    expect(ourSas(h2), 'h2 after stop').to.deep.equal([]);
    await waitFor(async () => Promise.resolve(ourSas(h1).length === 0 || undefined), { timeoutMs: 60_000, intervalMs: 500, what: 'h1 to remove the SAs of the closed connection' });
    startDaemon(h2, 'not-the-password');
    await waitFor(async () => Promise.resolve(readFileSync(join(work, `${h2.ns}.log`), 'utf8').split('\n').length > 5 || undefined), {
      timeoutMs: 120_000,
      intervalMs: 1000,
      what: 'the second daemon in h2 to start',
    });
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      expect(ourSas(h1), 'SAs on h1').to.deep.equal([]);
      expect(ourSas(h2), 'SAs on h2').to.deep.equal([]);
      expect(established(h1), 'h1 has no established connection').to.equal(undefined);
      await new Promise((r) => setTimeout(r, 1000));
    }
  });
});
