import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { silentLogger } from '../../../../common/logger.ts';
import type { MeshConnection } from '../../../../router/mesh/contract.ts';
import type { FrameConsumer, NetworkOverlay, OverlayForwarder, PrepareOptions } from '../../../../router/overlay/contract.ts';
import { FastdpOverlay } from '../../../../router/overlay/fastdp-overlay.ts';
import { encodeAck, encodeHeartbeat } from '../../../../router/overlay/fastdp-heartbeat.ts';
import { OverlaySwitch, commonOverlays } from '../../../../router/overlay/overlay-switch.ts';
import type { ConnectionSwitch } from '../../../../router/overlay/overlay-switch.ts';
import { FakeFastPath } from './fake-fast-path.ts';

const US = '02:00:00:00:00:01';
const THEM = '02:00:00:00:00:02';

/** A sleeve stand-in that records what the switch hands it. */
class RecordingSleeve extends EventEmitter {
  forwarded: string[] = [];
  control: string[] = [];
  sendControl: ((tag: number, body: Buffer) => void) | undefined;
  confirm(): void {}
  controlMessage(tag: number, body: Buffer): void {
    this.control.push(`${tag} ${body.toString('hex')}`);
  }
  forward(_b: Buffer, _o: number, _l: number, src: string, dst: string, broadcast: boolean): void {
    this.forwarded.push(`${src}->${dst}${broadcast ? ' bcast' : ''}`);
  }
  stop(): void {}
  attrs() {
    return { name: 'sleeve', mtu: 1438, encrypted: false };
  }
}

function sleeveOverlay(): { overlay: NetworkOverlay; fwds: RecordingSleeve[] } {
  const fwds: RecordingSleeve[] = [];
  const overlay: NetworkOverlay = {
    features: () => ({ Overlays: 'sleeve' }),
    prepareConnection: (_c: MeshConnection, _p: string, _o: boolean, opts?: PrepareOptions) => {
      const f = new RecordingSleeve();
      f.sendControl = opts?.sendControl;
      fwds.push(f);
      return f as unknown as OverlayForwarder;
    },
    forwarderTo: () => undefined,
    start: (_c: FrameConsumer) => undefined,
    stop: () => undefined,
  };
  return { overlay, fwds };
}

/** A connection to one of ours (it advertises FastdpHealth) or, with weave set, to a Weave router. */
function conn(overlays: string | undefined, sent: { tag: number; hex: string }[], weave = false): MeshConnection {
  const features: Record<string, string> = overlays === undefined ? {} : weave ? { Overlays: overlays } : { Overlays: overlays, FastdpHealth: '1' };
  return {
    remote: { name: THEM, nickname: 'them', uid: 1n, connId: 1n, features },
    outbound: true,
    remoteAddr: '198.18.0.2:6783',
    localAddr: '198.18.0.1:40000',
    connUid: 77n,
    send: (tag: number, payload: Uint8Array) => sent.push({ tag, hex: Buffer.from(payload).toString('hex') }),
  } as unknown as MeshConnection;
}

const tick = () => new Promise((r) => setImmediate(r));

describe('overlay switch', function () {
  it('orders common overlays by the dialler', function () {
    expect(commonOverlays(['fastdp-vxlan', 'sleeve'], ['sleeve', 'fastdp-vxlan'], true)).to.deep.equal(['fastdp-vxlan', 'sleeve']);
    expect(commonOverlays(['fastdp-vxlan', 'sleeve'], ['sleeve', 'fastdp-vxlan'], false)).to.deep.equal(['sleeve', 'fastdp-vxlan']);
    expect(commonOverlays(['fastdp-vxlan', 'sleeve'], ['fastdp', 'sleeve'], true)).to.deep.equal(['sleeve']);
  });

  describe('with fastdp offered by both', function () {
    let fp: FakeFastPath;
    let sleeve: ReturnType<typeof sleeveOverlay>;
    let sw: OverlaySwitch;
    let cs: ConnectionSwitch;
    const sent: { tag: number; hex: string }[] = [];
    const chosen: string[] = [];

    before(async () => {
      fp = new FakeFastPath();
      sleeve = sleeveOverlay();
      const fastdp = new FastdpOverlay({ fastPath: fp, ourName: US, logger: silentLogger(), timing: { intervalMs: 1_000_000 } });
      sw = new OverlaySwitch({ ourName: US, sleeve: sleeve.overlay, fastdp: { name: 'fastdp-vxlan', overlay: fastdp }, logger: silentLogger(), onChosen: (p, o) => chosen.push(`${p} ${o}`) });
      sw.start({ handleForwarded: () => undefined });
      cs = sw.prepareConnection(conn('fastdp-vxlan sleeve', sent), THEM, true) as ConnectionSwitch;
      cs.confirm();
      await tick();
    });

    after(() => sw.stop());

    it('advertises fastdp-vxlan before sleeve, and wraps each sub-forwarder in tag 7 with its index', function () {
      expect(sw.features()).to.deep.equal({ Overlays: 'fastdp-vxlan sleeve', FastdpHealth: '1' });
      sleeve.fwds[0]!.sendControl!(3, Buffer.from('059e', 'hex'));
      expect(sent.at(-1)).to.deep.equal({ tag: 7, hex: '0103059e' });
      expect(fp.log).to.deep.equal([`add ${THEM} 198.18.0.2`]);
      expect(fp.sent.map((s) => s.size)).to.deep.equal([1390, 590]);
    });

    it('uses sleeve until fastdp is confirmed both ways, with the reason', function () {
      expect(sw.forwarderTo(THEM)).to.equal(cs);
      expect(cs.attrs()).to.deep.equal({ name: 'sleeve', mtu: 1438, encrypted: false, reason: 'probing fastdp' });
      cs.forward(Buffer.alloc(60), 0, 60, US, THEM, true);
      expect(sleeve.fwds[0]!.forwarded).to.deep.equal([`${US}->${THEM} bcast`]);
    });

    it('switches to fastdp when healthy: kernel forwarding on, our broadcasts not sent again over sleeve', async function () {
      let open!: () => void;
      fp.gate = new Promise<void>((r) => (open = r));
      cs.subControlMessage(0, 0, encodeAck(1390, 0));
      fp.deliver(encodeHeartbeat({ connUid: 77n, frameSize: 1390, ext: { sender: THEM, seq: 5 } }), 1390);
      await tick();
      expect(chosen, 'the router keeps the peer\'s MACs until the kernel forwards').to.deep.equal([`${THEM} sleeve`]);
      open();
      fp.gate = undefined;
      await tick();
      expect(sent.at(-1)).to.deep.equal({ tag: 7, hex: '0000056e00000005' });
      expect(cs.attrs()).to.deep.equal({ name: 'fastdp', mtu: 1376, encrypted: false });
      expect(fp.forwarding(THEM)).to.equal(true);
      expect(chosen).to.deep.equal([`${THEM} sleeve`, `${THEM} fastdp-vxlan`]);
      const f = sleeve.fwds[0]!;
      f.forwarded = [];
      cs.forward(Buffer.alloc(60), 0, 60, US, THEM, true); // the kernel flooded it
      cs.forward(Buffer.alloc(60), 0, 60, US, THEM, false); // the bridge sent it to the capture
      cs.forward(Buffer.alloc(60), 0, 60, '02:00:00:00:00:03', THEM, true); // relayed for another peer
      expect(f.forwarded).to.deep.equal([`${US}->${THEM}`, `02:00:00:00:00:03->${THEM} bcast`]);
    });

    it('ignores heartbeats of other connections or senders', async function () {
      const before = sent.length;
      fp.deliver(encodeHeartbeat({ connUid: 78n, frameSize: 1390, ext: { sender: THEM, seq: 6 } }), 1390);
      fp.deliver(encodeHeartbeat({ connUid: 77n, frameSize: 1390, ext: { sender: '02:00:00:00:00:09', seq: 6 } }), 1390);
      await tick();
      expect(sent.length).to.equal(before);
    });

    it('routes tag 7 sleeve messages to sleeve, and releases the peer when stopped', async function () {
      cs.subControlMessage(1, 2, Buffer.from('ab', 'hex'));
      expect(sleeve.fwds[0]!.control).to.deep.equal(['2 ab']);
      cs.stop();
      await tick();
      expect(sw.forwarderTo(THEM)).to.equal(undefined);
      expect(fp.log.at(-1)).to.equal(`remove ${THEM}`);
    });
  });

  it('speaks Weave\'s fastdp rules to a Weave router: its one empty ack and bare heartbeats put the connection on fastdp', async function () {
    const sent: { tag: number; hex: string }[] = [];
    const fp = new FakeFastPath();
    const sleeve = sleeveOverlay();
    const fastdp = new FastdpOverlay({ fastPath: fp, ourName: US, logger: silentLogger(), timing: { intervalMs: 1_000_000 } });
    const sw = new OverlaySwitch({ ourName: US, sleeve: sleeve.overlay, fastdp: { name: 'fastdp', overlay: fastdp }, logger: silentLogger() });
    sw.start({ handleForwarded: () => undefined });
    try {
      const cs = sw.prepareConnection(conn('fastdp sleeve', sent, true), THEM, false) as ConnectionSwitch;
      cs.confirm();
      await tick();
      expect(fp.sent.map((s) => s.size), 'full size only').to.deep.equal([1390]);
      cs.subControlMessage(0, 0, Buffer.alloc(0));
      const weaveHeartbeat = Buffer.concat([encodeHeartbeat({ connUid: 77n, frameSize: 1390 }), Buffer.alloc(1366)]);
      fp.deliver(weaveHeartbeat, 1390);
      await tick();
      expect(sent.at(-1)?.tag, 'acknowledged over tag 7').to.equal(7);
      expect(cs.attrs()).to.deep.equal({ name: 'fastdp', mtu: 1376, encrypted: false });
      expect(fp.forwarding(THEM)).to.equal(true);
    } finally {
      sw.stop();
    }
  });

  it('stays on sleeve with the reason when the peer does not offer fastdp, or we do not', function () {
    const sent: { tag: number; hex: string }[] = [];
    const sleeve = sleeveOverlay();
    const fastdp = new FastdpOverlay({ fastPath: new FakeFastPath(), ourName: US, logger: silentLogger() });
    const sw = new OverlaySwitch({ ourName: US, sleeve: sleeve.overlay, fastdp: { name: 'fastdp-vxlan', overlay: fastdp }, logger: silentLogger() });
    const cs = sw.prepareConnection(conn('fastdp sleeve', sent), THEM, true) as ConnectionSwitch;
    cs.confirm();
    expect(cs.attrs().reason).to.equal('peer does not offer fastdp-vxlan');
    sleeve.fwds[0]!.sendControl!(1, Buffer.alloc(0));
    expect(sent.at(-1)).to.deep.equal({ tag: 7, hex: '0001' });
    cs.stop();

    const off = new OverlaySwitch({ ourName: US, sleeve: sleeve.overlay, fastdpDisabledReason: '--no-fastdp', logger: silentLogger() });
    expect(off.features()).to.deep.equal({ Overlays: 'sleeve' });
    const cs2 = off.prepareConnection(conn('fastdp-vxlan sleeve', sent), THEM, false) as ConnectionSwitch;
    cs2.confirm();
    expect(cs2.attrs().reason).to.equal('--no-fastdp');
    cs2.stop();
    expect(() => off.prepareConnection(conn('fastdp', sent), THEM, true)).to.throw(/no common overlay/);
  });
});
