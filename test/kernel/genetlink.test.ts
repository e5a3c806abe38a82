// Generic netlink family lookup against the kernel, compared with iproute2's `genl ctrl`.
import { expect } from 'chai';
import { GenetlinkClient, CTRL_CMD_GETFAMILY, GENL_ID_CTRL } from '../../datapath/netlink/genetlink.ts';
import { attrString } from '../../datapath/netlink/attributes.ts';
import { NetlinkError } from '../../datapath/netlink/netlink-error.ts';
import { TestNetns, requireRoot } from './netns-fixture.ts';

interface GenlCtrlEntry {
  name: string;
  id: number;
  version: number;
  groups: Map<string, number>;
}

/** Parses `genl ctrl list` text output. */
function parseGenlList(text: string): GenlCtrlEntry[] {
  const out: GenlCtrlEntry[] = [];
  for (const block of text.split(/\n(?=Name: )/)) {
    const name = /Name: (\S+)/.exec(block)?.[1];
    const ids = /ID: (0x[0-9a-f]+)\s+Version: (0x[0-9a-f]+)/.exec(block);
    if (name === undefined || ids === null) continue;
    const groups = new Map<string, number>();
    for (const m of block.matchAll(/ID-(0x[0-9a-f]+)\s+name: (\S+)/g)) groups.set(m[2]!, Number(m[1]));
    out.push({ name, id: Number(ids[1]), version: Number(ids[2]), groups });
  }
  return out;
}

describe('generic netlink (kernel)', function () {
  let ns: TestNetns;
  let genl: GenetlinkClient;

  before(function () {
    requireRoot();
    ns = new TestNetns('genl');
    genl = GenetlinkClient.open({ netns: ns.path });
  });
  after(function () {
    genl?.close();
    ns?.destroy();
  });

  it('looks up nlctrl itself', async function () {
    const f = await genl.family('nlctrl');
    expect(f).to.not.equal(undefined);
    expect(f!.id).to.equal(GENL_ID_CTRL);
    expect(f!.version).to.equal(2);
    expect(f!.ops.map((o) => o.id)).to.include(CTRL_CMD_GETFAMILY);
    expect(f!.mcastGroups.get('notify')).to.equal(0x10);
  });

  it('agrees with `genl ctrl list` on every family of this kernel', async function () {
    const expected = parseGenlList(ns.exec('genl', 'ctrl', 'list'));
    expect(expected.length).to.be.greaterThan(3);
    const dumped = await genl.listFamilies();
    expect(dumped.map((f) => f.name).sort()).to.deep.equal(expected.map((e) => e.name).sort());
    for (const e of expected) {
      const f = await genl.family(e.name);
      expect(f, e.name).to.not.equal(undefined);
      expect(f!.id, e.name).to.equal(e.id);
      expect(f!.version, e.name).to.equal(e.version);
      expect([...f!.mcastGroups].sort(), e.name).to.deep.equal([...e.groups].sort());
    }
  });

  it('answers undefined for a family this kernel lacks (openvswitch is not built in)', async function () {
    expect(await genl.family('ovs_datapath')).to.equal(undefined);
    expect(await genl.family('wv_nosuch')).to.equal(undefined);
  });

  it('sends commands through the generic request path and surfaces errors', async function () {
    const ctrl = (await genl.family('nlctrl'))!;
    const replies = await genl.request(ctrl, CTRL_CMD_GETFAMILY, 0, attrString(2, 'nlctrl'));
    expect(replies).to.have.length(1);
    expect(replies[0]!.attrs.u16(1)).to.equal(GENL_ID_CTRL);
    let caught: unknown;
    try {
      await genl.request(ctrl, 0x7f, 0, Buffer.alloc(0));
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(NetlinkError);
    expect((caught as NetlinkError).code).to.equal('EOPNOTSUPP');
  });
});
