// Byte vectors for the OVS genetlink codecs. Request vectors for ovs_datapath/ovs_vport come
// from /work/shared/tools/ovs-genl-probe.py (proven against the 6.1 kernel); the flow key vector
// is a key the 6.1 kernel reported in a flow dump (a flow received from a VXLAN vport).
import { expect } from 'chai';
import { AttrSet } from '../../../../datapath/netlink/attributes.ts';
import { decodeActions, encodeActions } from '../../../../datapath/netlink/ovs/actions.ts';
import { decodeDatapath, encodeDatapathByName, encodeDatapathNew } from '../../../../datapath/netlink/ovs/datapath-codec.ts';
import { decodeFlow, encodeFlowClearStats, encodeFlowDel, encodeFlowNew } from '../../../../datapath/netlink/ovs/flow-codec.ts';
import { decodeFlowKeyAttrs, encodeFlowKeyAttrs, exactMaskFor } from '../../../../datapath/netlink/ovs/flow-key.ts';
import { decodeOvsHeader, encodeOvsHeader } from '../../../../datapath/netlink/ovs/ovs-header.ts';
import { decodeUpcall, encodeExecute } from '../../../../datapath/netlink/ovs/packet-codec.ts';
import { decodeVport, encodeVportByName, encodeVportNew, encodeVportSetUpcall } from '../../../../datapath/netlink/ovs/vport-codec.ts';
import { hex } from '../hex.ts';

/** OVS_FLOW_ATTR_KEY of a dumped flow: recirc_id 0, dp_hash 0, priority 0, tunnel {id 0x1002,
 *  198.18.0.2 -> 198.18.0.1, ttl 64}, in_port 2, skb_mark 0, ct_state/zone/mark/labels 0,
 *  eth a2:46:a4:2a:ea:c2 -> 33:33:00:00:00:16. */
const KERNEL_TUNNEL_KEY = hex(`
  08 00 14 00 00 00 00 00  08 00 13 00 00 00 00 00  08 00 02 00 00 00 00 00
  28 00 10 00  0c 00 00 00 00 00 00 00 00 00 10 02  08 00 01 00 c6 12 00 02  08 00 02 00 c6 12 00 01  05 00 04 00 40 00 00 00
  08 00 03 00 02 00 00 00  08 00 0f 00 00 00 00 00  08 00 16 00 00 00 00 00  06 00 17 00 00 00 00 00
  08 00 18 00 00 00 00 00  14 00 19 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
  10 00 04 00 a2 46 a4 2a ea c2 33 33 00 00 00 16`);

/** set(tunnel(id 0x2001, 198.18.0.1 -> 198.18.0.2, tos 0, ttl 64, df)), output(2) */
const SET_TUNNEL_THEN_OUTPUT = hex(`
  38 00 03 00
    34 00 10 00
      0c 00 00 00 00 00 00 00 00 00 20 01
      08 00 01 00 c6 12 00 01
      08 00 02 00 c6 12 00 02
      05 00 03 00 00 00 00 00
      05 00 04 00 40 00 00 00
      04 00 05 00
  08 00 01 00 02 00 00 00`);

const TUNNEL_ACTIONS = [
  { kind: 'set-tunnel' as const, tunnel: { id: 0x2001n, ipv4Src: '198.18.0.1', ipv4Dst: '198.18.0.2', tos: 0, ttl: 64, dontFragment: true } },
  { kind: 'output' as const, port: 2 },
];

describe('OVS genetlink codecs', function () {
  it('ovs_header is the datapath ifindex, host-endian', function () {
    expect(encodeOvsHeader(7)).to.deep.equal(hex('07 00 00 00'));
    expect(decodeOvsHeader(hex('07 00 00 00'))).to.equal(7);
    expect(() => decodeOvsHeader(hex('07 00'))).to.throw(/short ovs_header/);
  });

  it('OVS_DP_CMD_NEW: name, upcall pid, user features (as ovs-genl-probe.py sends them)', function () {
    expect(encodeDatapathNew('datapath', 0x2a, 3)).to.deep.equal(
      hex('00 00 00 00  0d 00 01 00 64 61 74 61 70 61 74 68 00 00 00 00  08 00 02 00 2a 00 00 00  08 00 05 00 03 00 00 00'),
    );
    expect(encodeDatapathByName('dp')).to.deep.equal(hex('00 00 00 00  07 00 01 00 64 70 00 00'));
  });

  it('decodes a datapath reply with its stats (hit, missed, lost, flows)', function () {
    const stats = Buffer.alloc(32);
    [15n, 44n, 0n, 16n].forEach((v, i) => stats.writeBigUInt64LE(v, 8 * i));
    const attrs = new AttrSet(Buffer.concat([hex('0d 00 01 00 64 61 74 61 70 61 74 68 00 00 00 00'), hex('24 00 03 00'), stats, hex('08 00 05 00 03 00 00 00')]));
    expect(decodeDatapath(3, attrs)).to.deep.equal({ ifindex: 3, name: 'datapath', userFeatures: 3, stats: { hit: 15n, missed: 44n, lost: 0n, flows: 16n } });
  });

  it('OVS_VPORT_CMD_NEW of a VXLAN vport with its UDP port (as ovs-genl-probe.py sends it)', function () {
    expect(encodeVportNew(7, { name: 'vxlan-6784', type: 'vxlan', upcallPids: [0x2a], dstPort: 6784 })).to.deep.equal(
      hex('07 00 00 00  0f 00 03 00 76 78 6c 61 6e 2d 36 37 38 34 00 00  08 00 02 00 04 00 00 00  08 00 05 00 2a 00 00 00  0c 00 04 00 06 00 01 00 80 1a 00 00'),
    );
  });

  it('sets upcall pids by port number, looks vports up by name', function () {
    expect(encodeVportSetUpcall(3, 1, [5, 6])).to.deep.equal(hex('03 00 00 00  08 00 01 00 01 00 00 00  0c 00 05 00 05 00 00 00 06 00 00 00'));
    expect(encodeVportByName('vx')).to.deep.equal(hex('00 00 00 00  07 00 03 00 76 78 00 00'));
  });

  it('decodes a vport reply: number, type, name, upcall pids, tunnel port, ifindex', function () {
    const attrs = new AttrSet(
      hex('08 00 01 00 02 00 00 00  08 00 02 00 04 00 00 00  0f 00 03 00 76 78 6c 61 6e 2d 36 37 38 34 00 00  08 00 05 00 2a 00 00 00  0c 00 04 00 06 00 01 00 80 1a 00 00  08 00 08 00 07 00 00 00'),
    );
    expect(decodeVport(3, attrs)).to.deep.equal({ dpIfindex: 3, portNo: 2, type: 'vxlan', name: 'vxlan-6784', upcallPids: [0x2a], dstPort: 6784, ifindex: 7 });
  });

  it('decodes a kernel flow key: in_port, Ethernet, tunnel (id, outer addresses, ttl), the rest kept raw', function () {
    const key = decodeFlowKeyAttrs(KERNEL_TUNNEL_KEY);
    expect(key.inPort).to.equal(2);
    expect(key.ethernet).to.deep.equal({ src: 'a2:46:a4:2a:ea:c2', dst: '33:33:00:00:00:16' });
    expect(key.tunnel).to.deep.equal({ id: 0x1002n, ipv4Src: '198.18.0.2', ipv4Dst: '198.18.0.1', ttl: 64 });
    expect(key.others?.map((a) => a.type)).to.deep.equal([20, 19, 2, 15, 22, 23, 24, 25]);
    // Re-encoding keeps every attribute (order aside): what the kernel needs to find the flow.
    expect(decodeFlowKeyAttrs(encodeFlowKeyAttrs(key))).to.deep.equal(key);
  });

  it('encodes set(tunnel) + output, big-endian id and addresses, and decodes them back', function () {
    expect(encodeActions(TUNNEL_ACTIONS)).to.deep.equal(SET_TUNNEL_THEN_OUTPUT);
    expect(decodeActions(SET_TUNNEL_THEN_OUTPUT)).to.deep.equal(TUNNEL_ACTIONS);
    expect(encodeActions([])).to.deep.equal(Buffer.alloc(0));
  });

  it('encodes tunnel UDP ports and checksum in network order', function () {
    const a = encodeActions([{ kind: 'set-tunnel', tunnel: { ipv4Dst: '198.18.0.2', ttl: 1, csum: true, tpSrc: 0x1234, tpDst: 6784 } }]);
    expect(a).to.deep.equal(hex('2c 00 03 00  28 00 10 00  08 00 02 00 c6 12 00 02  05 00 04 00 01 00 00 00  04 00 06 00  06 00 09 00 12 34 00 00  06 00 0a 00 1a 80 00 00'));
  });

  it('OVS_FLOW_CMD_NEW: key, mask, actions', function () {
    const key = { inPort: 1, ethernet: { src: '02:00:00:00:00:01', dst: 'ff:ff:ff:ff:ff:ff' } };
    const body = encodeFlowNew(3, { key, mask: exactMaskFor(key), actions: [{ kind: 'output', port: 2 }] });
    expect(body).to.deep.equal(
      hex(`03 00 00 00
        1c 00 01 00  08 00 03 00 01 00 00 00  10 00 04 00 02 00 00 00 00 01 ff ff ff ff ff ff
        1c 00 07 00  08 00 03 00 ff ff ff ff  10 00 04 00 ff ff ff ff ff ff ff ff ff ff ff ff
        0c 00 02 00  08 00 01 00 02 00 00 00`),
    );
  });

  it('a tunnel mask matches id and outer addresses exactly and leaves the ttl free', function () {
    const mask = exactMaskFor({ inPort: 2, ethernet: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, tunnel: { id: 1n, ipv4Src: '198.18.0.2', ipv4Dst: '198.18.0.1', ttl: 64 } });
    expect(mask.tunnel).to.deep.equal({ id: 0xffffffffffffffffn, ipv4Src: '255.255.255.255', ipv4Dst: '255.255.255.255', ttl: 0 });
  });

  it('deletes one flow by its reported key, all flows without one, clears stats with CLEAR', function () {
    const k = hex('08 00 03 00 01 00 00 00');
    expect(encodeFlowDel(3)).to.deep.equal(hex('03 00 00 00'));
    expect(encodeFlowDel(3, k)).to.deep.equal(hex('03 00 00 00  0c 00 01 00 08 00 03 00 01 00 00 00'));
    expect(encodeFlowClearStats(3, k)).to.deep.equal(hex('03 00 00 00  0c 00 01 00 08 00 03 00 01 00 00 00  04 00 06 00'));
  });

  it('decodes a dumped flow: key, mask, actions, stats, used time', function () {
    const key = hex('08 00 03 00 01 00 00 00');
    const attrs = new AttrSet(
      Buffer.concat([
        hex('0c 00 01 00'), key,
        hex('0c 00 07 00 08 00 03 00 ff ff ff ff'),
        hex('14 00 03 00 05 00 00 00 00 00 00 00 46 01 00 00 00 00 00 00'),
        hex('0c 00 05 00 10 27 00 00 00 00 00 00'),
        hex('0c 00 02 00 08 00 01 00 02 00 00 00'),
      ]),
    );
    const f = decodeFlow(attrs);
    expect(f).to.deep.equal({ key: { inPort: 1 }, mask: { inPort: 0xffffffff }, actions: [{ kind: 'output', port: 2 }], packets: 5n, bytes: 326n, usedMs: 10000n, rawKey: key });
    // A flow never used since its stats were cleared has no USED attribute.
    expect(decodeFlow(new AttrSet(Buffer.concat([hex('0c 00 01 00'), key]))).usedMs).to.equal(undefined);
  });

  it('decodes a MISS upcall and builds the EXECUTE that answers it', function () {
    const frame = hex('ff ff ff ff ff ff 02 00 00 00 00 01 08 06 00 01');
    const attrs = new AttrSet(Buffer.concat([hex('14 00 01 00'), frame, hex('90 00 02 00'), KERNEL_TUNNEL_KEY]));
    const up = decodeUpcall(1, 3, attrs);
    expect(up.packet).to.deep.equal(frame);
    expect(up.rawKey).to.deep.equal(KERNEL_TUNNEL_KEY);
    expect(up.key.inPort).to.equal(2);
    expect(up.key.tunnel?.id).to.equal(0x1002n);
    expect(encodeExecute(3, frame, hex('08 00 03 00 01 00 00 00'), [{ kind: 'output', port: 1 }])).to.deep.equal(
      hex(`03 00 00 00  14 00 01 00 ff ff ff ff ff ff 02 00 00 00 00 01 08 06 00 01
           0c 00 02 00 08 00 03 00 01 00 00 00  0c 00 03 00 08 00 01 00 01 00 00 00`),
    );
    expect(() => decodeUpcall(1, 3, new AttrSet(hex('14 00 01 00').subarray(0, 0)))).to.throw(/without packet or key/);
  });
});
