// Encrypted fastdp on the other fast-path backend: plain vxlan devices (--fastdp-backend vxlan)
// instead of ODP. Runs inside the QEMU guest (host entry: test/kernel/odp-vm.test.ts), whose
// Debian kernel has ESP. The IPsec side (XFRM SAs and policy, nf_tables mark and guards) is the
// same for both backends because both send VXLAN through the host's IP stack on UDP 6784; this
// suite proves that holds for the vxlan device: the connection comes up as encrypted fastdp,
// containers ping and move iperf3 traffic both ways, the underlay carries ESP only, and blocking
// ESP sends the connection to encrypted sleeve and back.
import { expect } from 'chai';
import { ip } from './guest-lab.ts';
import { encryptedTrafficTests, espBlockTest, ipsecLab, ourSas, status } from './ipsec-lab.ts';

describe('encrypted fastdp (IPsec ESP) on the vxlan-device backend between two daemons in the guest', function () {
  this.timeout(600_000);
  const lab = ipsecLab('ipsx', 'vxlan');

  it('the connection comes up as encrypted fastdp over the vxlan device, with one SA each way and the marked policy', async function () {
    for (const h of lab.hosts) {
      expect(status(h).router.Fastdp, h.ns).to.deep.include({ enabled: true, backend: 'vxlan-device' });
      const c = await lab.onPath(h, 'fastdp', 180_000);
      expect(c.Info, h.ns).to.match(/^encrypted\s+fastdp /);
      expect(c.Attrs, h.ns).to.deep.include({ encrypted: true });
      expect(ourSas(h), `${h.ns} SAs`).to.have.length(2);
      expect(ip('-n', h.ns, 'xfrm', 'policy'), h.ns).to.include('mark 0x20000/0x20000').and.include('proto esp');
      // the device this backend sends through, not an ODP datapath
      expect(ip('-n', h.ns, '-d', 'link', 'show', 'vxlan-6784'), h.ns).to.include('vxlan id');
    }
  });

  encryptedTrafficTests(lab);

  espBlockTest(lab);
});
