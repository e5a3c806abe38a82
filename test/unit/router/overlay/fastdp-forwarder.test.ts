import { expect } from 'chai';
import { silentLogger } from '../../../../common/logger.ts';
import { FastdpForwarder } from '../../../../router/overlay/fastdp-forwarder.ts';
import type { FastdpTiming } from '../../../../router/overlay/fastdp-forwarder.ts';
import { decodeHeartbeat, encodeAck } from '../../../../router/overlay/fastdp-heartbeat.ts';
import { FakeFastPath } from './fake-fast-path.ts';

const REMOTE = '02:00:00:00:00:02';

/** A forwarder to REMOTE on a fake fast path and a fake clock; control messages and events recorded. */
function fixture(weavePeer: boolean, timing: Partial<FastdpTiming>) {
  const f = {
    t: 1_000_000,
    fp: new FakeFastPath(),
    control: [] as { tag: number; body: string }[],
    events: [] as string[],
    fwd: undefined as unknown as FastdpForwarder,
  };
  f.fwd = new FastdpForwarder({
    fastPath: f.fp,
    ourName: '02:00:00:00:00:01',
    remotePeer: REMOTE,
    remoteIp: '198.18.0.2',
    connUid: 42n,
    weavePeer,
    sendControl: (tag, body) => f.control.push({ tag, body: body.toString('hex') }),
    logger: silentLogger(),
    timing,
    now: () => f.t,
  });
  f.fwd.on('established', () => f.events.push('established'));
  f.fwd.on('health', (h) => f.events.push(`health ${h}`));
  return f;
}

describe('FastdpForwarder (health of one connection)', function () {
  let f: ReturnType<typeof fixture>;
  let fp: FakeFastPath;
  let control: { tag: number; body: string }[];
  let fwd: FastdpForwarder;
  let events: string[];
  const advance = (ms: number): void => {
    f.t += ms;
  };

  beforeEach(async () => {
    f = fixture(false, { intervalMs: 1_000_000, healthyIntervalMs: 1_000_000, unhealthyAfterMs: 3000 });
    ({ fp, control, fwd, events } = f);
    await fp.addPeer(REMOTE, '198.18.0.2');
  });

  afterEach(() => fwd.stop());

  it('sends a full-MTU and a small heartbeat naming us and the connection when confirmed', () => {
    fwd.confirm();
    expect(fp.sent.map((s) => s.size)).to.deep.equal([1390, 590]);
    const hb = decodeHeartbeat(Buffer.concat([fp.sent[0]!.payload, Buffer.alloc(1376 - fp.sent[0]!.payload.length)]), 1390);
    expect(hb).to.deep.include({ connUid: 42n, frameSize: 1390 });
    expect(hb?.ext?.sender).to.equal('02:00:00:00:00:01');
    expect(fwd.healthy).to.equal(false);
    expect(fwd.reason()).to.equal('probing fastdp');
  });

  it('is healthy only when confirmed both ways, and acks what it receives', () => {
    fwd.confirm();
    fwd.controlMessage(0, encodeAck(1390, 0));
    expect(fwd.healthy, 'our heartbeats acked, theirs not seen').to.equal(false);
    expect(fwd.reason()).to.equal('confirming fastdp heartbeats');
    fwd.heartbeatReceived(1390, 9);
    expect(control).to.deep.equal([{ tag: 0, body: '056e00000009' }]);
    expect(fwd.healthy).to.equal(true);
    expect(fwd.reason()).to.equal(undefined);
    expect(events).to.deep.equal(['established', 'health true']);
  });

  it('turns unhealthy after 3 s of silence and explains it: blocked port, or MTU when small ones pass', () => {
    fwd.confirm();
    fwd.controlMessage(0, encodeAck(1390, 0));
    fwd.heartbeatReceived(1390, 0);
    advance(3001);
    fwd.controlMessage(0, encodeAck(590, 1)); // small ones still pass
    expect(fwd.healthy).to.equal(false);
    expect(events).to.deep.equal(['established', 'health true', 'health false']);
    expect(fwd.reason()).to.equal('underlay MTU too small for overlay MTU 1376 (heartbeat of 1426 bytes lost; smaller ones pass)');
    advance(10_000);
    expect(fwd.reason()).to.equal('UDP 6784 unreachable: no heartbeat for 13s');
    // and back, by itself
    fwd.controlMessage(0, encodeAck(1390, 2));
    fwd.heartbeatReceived(1390, 3);
    expect(fwd.healthy).to.equal(true);
    expect(events.at(-1)).to.equal('health true');
    expect(events.filter((e) => e === 'established')).to.have.length(1);
  });

  it('while healthy sends only the full-size heartbeat, at the slower rate; the small one is back once unhealthy', () => {
    const tick = (): void => (fwd as unknown as { tick(): void }).tick();
    const interval = (): number => (fwd as unknown as { timer: { _idleTimeout: number } }).timer._idleTimeout;
    fwd.confirm();
    expect(interval()).to.equal(1_000_000);
    fwd.controlMessage(0, encodeAck(1390, 0));
    fwd.heartbeatReceived(1390, 0);
    expect(fwd.healthy).to.equal(true);
    fp.sent.length = 0;
    tick();
    expect(fp.sent.map((s) => s.size)).to.deep.equal([1390]);
    advance(3001);
    tick();
    expect(fwd.healthy).to.equal(false);
    fp.sent.length = 0;
    tick();
    expect(fp.sent.map((s) => s.size)).to.deep.equal([1390, 590]);
  });

  it('sends the small heartbeat again as soon as a full-size ack is overdue, so the MTU reason is ready when the window runs out', () => {
    const tick = (): void => (fwd as unknown as { tick(): void }).tick();
    fwd.confirm();
    fwd.controlMessage(0, encodeAck(1390, 0));
    fwd.heartbeatReceived(1390, 0);
    fp.sent.length = 0;
    advance(1000);
    tick();
    expect(fp.sent.map((s) => s.size), 'acks on time').to.deep.equal([1390]);
    fp.sent.length = 0;
    advance(600);
    tick();
    expect(fwd.healthy).to.equal(true);
    expect(fp.sent.map((s) => s.size), 'a full-size ack overdue').to.deep.equal([1390, 590]);
    fwd.controlMessage(0, encodeAck(590, 1));
    fwd.heartbeatReceived(590, 1);
    advance(1500);
    tick();
    expect(fwd.healthy).to.equal(false);
    expect(fwd.reason()).to.equal('underlay MTU too small for overlay MTU 1376 (heartbeat of 1426 bytes lost; smaller ones pass)');
  });

  it('reschedules its timer: the healthy interval while healthy, the probing one otherwise', () => {
    fwd.stop();
    f = fixture(false, { intervalMs: 500, healthyIntervalMs: 1000, unhealthyAfterMs: 3000 });
    ({ fp, control, fwd, events } = f);
    const interval = (): number => (fwd as unknown as { timer: { _idleTimeout: number } }).timer._idleTimeout;
    fwd.confirm();
    expect(interval()).to.equal(500);
    fwd.controlMessage(0, encodeAck(1390, 0));
    fwd.heartbeatReceived(1390, 0);
    expect(interval()).to.equal(1000);
    advance(3001);
    (fwd as unknown as { tick(): void }).tick();
    expect(fwd.healthy).to.equal(false);
    expect(interval()).to.equal(500);
  });

  it('ignores other control tags and truncated acks', () => {
    fwd.confirm();
    fwd.controlMessage(1, encodeAck(1390, 0));
    fwd.controlMessage(0, Buffer.from('056e', 'hex'));
    fwd.heartbeatReceived(1390, 0);
    expect(fwd.healthy).to.equal(false);
  });
});

describe('FastdpForwarder with a Weave router as the remote', function () {
  let f: ReturnType<typeof fixture>;
  let fp: FakeFastPath;
  let control: { tag: number; body: string }[];
  let fwd: FastdpForwarder;
  let events: string[];
  const advance = (ms: number): void => {
    f.t += ms;
  };

  beforeEach(async () => {
    f = fixture(true, { intervalMs: 1_000_000 });
    ({ fp, control, fwd, events } = f);
    await fp.addPeer(REMOTE, '198.18.0.2');
  });

  afterEach(() => fwd.stop());

  it('sends only full-size heartbeats that start as Weave reads them: UID, then the frame size', () => {
    fwd.confirm();
    expect(fp.sent.map((s) => s.size)).to.deep.equal([1390]);
    const p = fp.sent[0]!.payload;
    expect(p.subarray(0, 10).toString('hex')).to.equal('000000000000002a' + '056e');
  });

  it('is established by Weave\'s one empty ack and stays healthy while its heartbeats come (10 s apart, 60 s timeout)', () => {
    fwd.confirm();
    fwd.heartbeatReceived(1390, 0);
    expect(control).to.have.length(1);
    expect(fwd.healthy).to.equal(false);
    expect(fwd.reason()).to.equal('waiting for the Weave peer to acknowledge a fastdp heartbeat');
    fwd.controlMessage(0, Buffer.alloc(0));
    expect(fwd.healthy).to.equal(true);
    expect(events).to.deep.equal(['established', 'health true']);
    advance(50_000);
    fwd.heartbeatReceived(1390, 0);
    advance(59_000);
    (fwd as unknown as { tick(): void }).tick();
    expect(fwd.healthy, 'no ack since the first, heartbeats within 60 s').to.equal(true);
    advance(2_000);
    (fwd as unknown as { tick(): void }).tick();
    expect(fwd.healthy).to.equal(false);
    expect(fwd.reason()).to.equal('no fastdp heartbeat from the Weave peer for 61s');
  });

  it('slows to one heartbeat per 10 s once acknowledged, as Weave does', () => {
    fwd.confirm();
    const tick = (): void => (fwd as unknown as { tick(): void }).tick();
    advance(500);
    tick();
    expect(fp.sent).to.have.length(2);
    fwd.controlMessage(0, Buffer.alloc(0));
    advance(500);
    tick();
    expect(fp.sent, 'not yet 10 s since the last').to.have.length(2);
    advance(9_500);
    tick();
    expect(fp.sent).to.have.length(3);
  });
});
