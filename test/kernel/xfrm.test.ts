// XfrmClient against the kernel in a throwaway netns, checked with iproute2's `ip xfrm`.
import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import { XfrmClient } from '../../datapath/netlink/xfrm/client.ts';
import { IPPROTO_UDP, XFRM_POLICY_OUT } from '../../datapath/netlink/xfrm/constants.ts';
import { probeEsp } from '../../datapath/ipsec/esp-probe.ts';
import { ESP_AEAD, IPSEC_MARK, IPSEC_REQID } from '../../datapath/ipsec/constants.ts';
import { TestNetns, requireRoot } from './netns-fixture.ts';

const local = '198.18.0.1';
const remote = '198.18.0.2';
const selector = { src: local, dst: remote, srcPrefix: 32, dstPrefix: 32, proto: IPPROTO_UDP, dstPort: 6784 };

describe('xfrm netlink (kernel)', function () {
  let ns: TestNetns;
  let xfrm: XfrmClient;

  before(() => {
    requireRoot();
    ns = new TestNetns('xfrm');
    xfrm = XfrmClient.open({ netns: ns.path });
  });
  after(() => {
    xfrm?.close();
    ns?.destroy();
  });

  it('allocates an inbound SPI the kernel then lists (larval SA with our reqid)', async function () {
    const spi = await xfrm.allocSpi({ src: remote, dst: local, reqid: IPSEC_REQID });
    expect(spi).to.be.within(0x100, 0x0fffffff);
    const sas = await xfrm.listSas();
    expect(sas.map((s) => [s.src, s.dst, s.spi, s.reqid])).to.deep.include([remote, local, spi, IPSEC_REQID]);
    expect(ns.ip('xfrm', 'state')).to.include(`spi 0x${spi.toString(16).padStart(8, '0')} reqid ${IPSEC_REQID}`);
  });

  it('adds, lists, replaces and deletes an outbound policy selected by mark', async function () {
    const tmpl = { src: local, dst: remote, spi: 0x1234, reqid: IPSEC_REQID };
    await xfrm.addPolicy({ selector, dir: XFRM_POLICY_OUT, mark: IPSEC_MARK, templates: [tmpl] });
    await xfrm.updatePolicy({ selector, dir: XFRM_POLICY_OUT, mark: IPSEC_MARK, templates: [{ ...tmpl, spi: 0x5678 }] });
    const text = ns.ip('xfrm', 'policy');
    expect(text).to.match(/src 198\.18\.0\.1\/32 dst 198\.18\.0\.2\/32 proto udp dport 6784/);
    expect(text).to.include('mark 0x20000/0x20000');
    expect(text).to.include('spi 0x00005678');
    const listed = await xfrm.listPolicies();
    expect(listed).to.have.length(1);
    expect(listed[0]!.templates[0]!.spi).to.equal(0x5678);
    expect(listed[0]!.selector).to.deep.equal(selector);
    expect(await xfrm.deletePolicy({ selector, dir: XFRM_POLICY_OUT, mark: IPSEC_MARK })).to.equal(true);
    expect(await xfrm.deletePolicy({ selector, dir: XFRM_POLICY_OUT, mark: IPSEC_MARK })).to.equal(false);
    expect(ns.ip('xfrm', 'policy').trim()).to.equal('');
  });

  it('flushes only policies with our mark and SAs with our reqid', async function () {
    await xfrm.addPolicy({ selector, dir: XFRM_POLICY_OUT, mark: IPSEC_MARK, templates: [{ src: local, dst: remote, spi: 0x99, reqid: IPSEC_REQID }] });
    // someone else's: another mark, another reqid
    ns.ip('xfrm', 'policy', 'add', 'src', '198.18.0.1/32', 'dst', '198.18.0.3/32', 'dir', 'out', 'mark', '0x4', 'mask', '0x4',
      'tmpl', 'src', local, 'dst', '198.18.0.3', 'proto', 'esp', 'spi', '0x77', 'mode', 'transport');
    ns.ip('xfrm', 'state', 'allocspi', 'src', '198.18.0.3', 'dst', local, 'proto', 'esp', 'mode', 'transport', 'reqid', '7');
    const removed = await xfrm.flushOurs(IPSEC_MARK, IPSEC_REQID);
    expect(removed).to.deep.equal({ policies: 1, sas: 1 }); // the SA from the first test
    expect(ns.ip('xfrm', 'policy')).to.include('198.18.0.3').and.not.include('198.18.0.2');
    expect(ns.ip('xfrm', 'state')).to.include('reqid 7 ').and.not.include(`reqid ${IPSEC_REQID}`);
  });

  it("the ESP probe agrees with what `ip xfrm state add` of Weave's SA gets from this kernel", async function () {
    const key = `0x${'11'.repeat(36)}`;
    const ip = spawnSync('ip', ['-n', ns.name, 'xfrm', 'state', 'add', 'src', local, 'dst', remote, 'proto', 'esp', 'spi', '0x4321',
      'mode', 'transport', 'replay-window', '256', 'flag', 'esn', 'aead', ESP_AEAD, key, '128'], { encoding: 'utf8' });
    const support = await probeEsp(xfrm);
    if (ip.status === 0) {
      expect(support).to.deep.equal({ ok: true });
    } else {
      expect(support.ok).to.equal(false);
      expect(support.ok === false && support.reason).to.equal('kernel has no ESP (esp4)');
    }
    // the probe leaves nothing behind
    expect(ns.ip('xfrm', 'state')).to.not.include('spi 0x000000fe');
  });
});
