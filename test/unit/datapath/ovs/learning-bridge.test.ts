import { expect } from 'chai';
import { silentLogger } from '../../../../common/logger.ts';
import { decideMiss, LearningBridge } from '../../../../datapath/odp/learning-bridge.ts';
import type { BridgeTopology, MacLocation } from '../../../../datapath/odp/learning-bridge.ts';
import { peersFromVni, weaveVni } from '../../../../datapath/netlink/ovs/vni.ts';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const R = '02:00:00:00:00:99';
const BCAST = 'ff:ff:ff:ff:ff:ff';

const topo: BridgeTopology = {
  localShortId: 1,
  localIp: '198.18.0.1',
  localPorts: [1, 3],
  vxlanPort: 2,
  peers: new Map([[5, { shortId: 5, ip: '198.18.0.5' }]]),
};
const toPeer5 = [
  { kind: 'set-tunnel', tunnel: { id: BigInt((5 << 12) | 1), ipv4Src: '198.18.0.1', ipv4Dst: '198.18.0.5', tos: 0, ttl: 64, dontFragment: true } },
  { kind: 'output', port: 2 },
];

describe('Weave VNI and the ODP learning bridge', function () {
  it('VNI = (dst << 12) | src, 12 bits each, and back', function () {
    expect(weaveVni(1, 2)).to.equal(0x2001);
    expect(weaveVni(0xabc, 0x123)).to.equal(0x123abc);
    expect(peersFromVni(0x123abc)).to.deep.equal({ src: 0xabc, dst: 0x123 });
    expect(peersFromVni(0x1_00002001n)).to.deep.equal({ src: 1, dst: 2 });
    expect(() => weaveVni(4096, 1)).to.throw(RangeError);
    expect(() => weaveVni(1, -1)).to.throw(RangeError);
  });

  it('a broadcast from a local port floods the other local ports and every peer, with a flow', function () {
    const d = decideMiss(topo, new Map(), { inPort: 1, ethernet: { src: A, dst: BCAST } });
    expect(d.learned).to.deep.equal({ mac: A, at: { port: 1 } });
    expect(d.actions).to.deep.equal([{ kind: 'output', port: 3 }, ...toPeer5]);
    expect(d.flow?.key).to.deep.equal({ inPort: 1, ethernet: { src: A, dst: BCAST } });
    expect(d.flow?.mask?.inPort).to.equal(0xffffffff);
    expect(d.flow?.actions).to.deep.equal(d.actions);
  });

  it('unknown unicast is flooded without a flow', function () {
    const d = decideMiss(topo, new Map(), { inPort: 1, ethernet: { src: A, dst: B } });
    expect(d.actions).to.deep.equal([{ kind: 'output', port: 3 }, ...toPeer5]);
    expect(d.flow).to.equal(undefined);
  });

  it('a known local destination gets a flow to its port; a known remote one a tunnel flow', function () {
    const macs = new Map<string, MacLocation>([
      [B, { port: 3 }],
      [R, { peer: 5 }],
    ]);
    expect(decideMiss(topo, macs, { inPort: 1, ethernet: { src: A, dst: B } }).flow?.actions).to.deep.equal([{ kind: 'output', port: 3 }]);
    expect(decideMiss(topo, macs, { inPort: 1, ethernet: { src: A, dst: R } }).flow?.actions).to.deep.equal(toPeer5);
  });

  it('never hairpins to the ingress port', function () {
    const d = decideMiss(topo, new Map([[B, { port: 1 }]]), { inPort: 1, ethernet: { src: A, dst: B } });
    expect(d.actions).to.deep.equal([]);
  });

  it('from the tunnel: learns the peer from the VNI, delivers locally only, flow matches the tunnel', function () {
    const tunnel = { id: BigInt(weaveVni(5, 1)), ipv4Src: '198.18.0.5', ipv4Dst: '198.18.0.1', ttl: 63 };
    const d = decideMiss(topo, new Map([[B, { port: 3 }]]), { inPort: 2, tunnel, ethernet: { src: R, dst: BCAST } });
    expect(d.learned).to.deep.equal({ mac: R, at: { peer: 5 } });
    expect(d.actions).to.deep.equal([{ kind: 'output', port: 1 }, { kind: 'output', port: 3 }]);
    expect(d.flow?.key.tunnel).to.deep.equal(tunnel);
    expect(d.flow?.mask?.tunnel?.id).to.equal(0xffffffffffffffffn);
    const unicast = decideMiss(topo, new Map([[B, { port: 3 }]]), { inPort: 2, tunnel, ethernet: { src: R, dst: B } });
    expect(unicast.actions).to.deep.equal([{ kind: 'output', port: 3 }]);
  });

  it('drops tunnelled frames addressed to another peer or from an unknown one', function () {
    const wrongDst = { id: BigInt(weaveVni(5, 7)), ipv4Src: '198.18.0.5', ipv4Dst: '198.18.0.1', ttl: 64 };
    const unknownSrc = { id: BigInt(weaveVni(9, 1)), ipv4Src: '198.18.0.9', ipv4Dst: '198.18.0.1', ttl: 64 };
    for (const tunnel of [wrongDst, unknownSrc]) {
      const d = decideMiss(topo, new Map(), { inPort: 2, tunnel, ethernet: { src: R, dst: BCAST } });
      expect(d).to.deep.equal({ actions: [] });
    }
  });
});

describe('LearningBridge', function () {
  const noKernel = { execute: () => Promise.resolve(), installFlow: () => Promise.resolve() };

  it('sweeps MACs that are neither freshly learned nor behind a live flow', async function () {
    const executed: unknown[] = [];
    const bridge = new LearningBridge({ ...noKernel, execute: (_p, _k, a) => Promise.resolve(void executed.push(a)) }, topo, silentLogger());
    await bridge.handleMiss({ cmd: 1, dpIfindex: 3, packet: Buffer.alloc(14), rawKey: Buffer.alloc(0), key: { inPort: 1, ethernet: { src: A, dst: BCAST } } });
    await bridge.handleMiss({ cmd: 1, dpIfindex: 3, packet: Buffer.alloc(14), rawKey: Buffer.alloc(0), key: { inPort: 3, ethernet: { src: B, dst: A } } });
    expect(executed).to.deep.equal([[{ kind: 'output', port: 3 }, ...toPeer5], [{ kind: 'output', port: 1 }]]);
    expect([...bridge.macs.keys()]).to.deep.equal([A, B]);
    expect(bridge.sweep(new Set())).to.equal(0); // both were fresh
    expect(bridge.sweep(new Set([B]))).to.equal(1); // A idle for a whole round
    expect([...bridge.macs.keys()]).to.deep.equal([B]);
  });
});
