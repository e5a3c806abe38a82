import { expect } from 'chai';
import { SleeveForwarder, DEFAULT_SLEEVE_TIMING } from '../../../../router/overlay/sleeve-forwarder.ts';
import type { SleeveTiming, SleeveTransport } from '../../../../router/overlay/sleeve-forwarder.ts';
import { PlainOpener, PlainSealer } from '../../../../router/overlay/frame-crypto.ts';
import type { PacketSealer } from '../../../../router/overlay/frame-crypto.ts';
import { PeerNameCache } from '../../../../router/overlay/peer-name-cache.ts';
import { forEachFrame, heartbeatFrame, writeFrame, FRAG_TEST_SIZE } from '../../../../router/overlay/sleeve-packet.ts';
import { internetChecksum } from '../../../../router/overlay/ipv4-frame.ts';
import type { FrameConsumer } from '../../../../router/overlay/contract.ts';
import { defaultControlSender } from '../../../../router/overlay/sleeve.ts';
import type { MeshConnection } from '../../../../router/mesh/contract.ts';
import type { NativeError } from '../../../../datapath/native/index.ts';
import { silentLogger } from '../../../../common/logger.ts';

const US = '02:00:00:00:00:01';
const THEM = '02:00:00:00:00:02';
const OTHER = '02:00:00:00:00:03';
const UID = 0x1122334455667788n;
const REMOTE_IP = 0xc6120202; // 198.18.2.2
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Datagram {
  df: boolean;
  ip: number;
  port: number;
  frames: { src: number; dst: number; len: number; data: Buffer }[];
}

class FakeTransport implements SleeveTransport {
  readonly names = new PeerNameCache();
  readonly ourName = US;
  readonly ourNumber = this.names.toNumber(US);
  readonly zeros = Buffer.alloc(FRAG_TEST_SIZE + 16);
  readonly timing: SleeveTiming;
  readonly sent: Datagram[] = [];
  readonly consumed: { src: string; dst: string; hex: string }[] = [];
  registered: SleeveForwarder | undefined;
  pmtu = 1500;
  private readonly out = Buffer.alloc(70000);
  constructor(timing: Partial<SleeveTiming> = {}) {
    // no early heartbeats unless a test asks: they would fall among the datagrams it checks
    this.timing = { ...DEFAULT_SLEEVE_TIMING, firstHeartbeatMs: DEFAULT_SLEEVE_TIMING.fastHeartbeatMs, ...timing };
  }
  emit(df: boolean, sealer: PacketSealer, frames: Buffer, len: number, ip: number, port: number): void {
    const n = sealer.seal(this.ourNumber, frames, len, this.out, 0);
    const d: Datagram = { df, ip, port, frames: [] };
    forEachFrame(this.out, 6, n, (b, src, dst, off, l) => d.frames.push({ src, dst, len: l, data: Buffer.from(b.subarray(off, off + l)) }));
    this.sent.push(d);
  }
  scheduleFlush(): void {
    queueMicrotask(() => this.registered?.drain());
  }
  register(fwd: SleeveForwarder): void {
    this.registered = fwd;
  }
  unregister(): void {
    this.registered = undefined;
  }
  pathMtu(): number {
    return this.pmtu;
  }
  consumer(): FrameConsumer {
    return { handleForwarded: (src, dst, buf, off, len) => this.consumed.push({ src, dst, hex: buf.subarray(off, off + len).toString('hex') }) };
  }
  knownPeer(name: string): boolean {
    return name !== '02:00:00:00:00:99';
  }
}

function make(t: FakeTransport, outbound: boolean, control: { tag: number; body: string }[] = []) {
  return new SleeveForwarder({
    transport: t,
    remotePeer: THEM,
    outbound,
    connUid: UID,
    ...(outbound ? { remoteIp: REMOTE_IP, remotePort: 6783 } : {}),
    sealer: new PlainSealer(),
    sealerDF: new PlainSealer(),
    opener: new PlainOpener(),
    encrypted: false,
    mtu: 1500,
    sendControl: (tag, body) => control.push({ tag, body: body.toString('hex') }),
    logger: silentLogger(),
  });
}

/** A UDP body (after the 6-byte hop name) holding the given frames, from THEM. */
function packetFrom(t: FakeTransport, frames: { src?: string; dst?: string; data: Buffer }[]): Buffer {
  const buf = Buffer.alloc(70000);
  let off = 0;
  for (const f of frames) off = writeFrame(buf, off, t.names.toNumber(f.src ?? THEM), t.names.toNumber(f.dst ?? US), f.data);
  return buf.subarray(0, off);
}

function ipv4Frame(df: boolean, ipLen: number): Buffer {
  const f = Buffer.alloc(14 + ipLen);
  Buffer.from('0a00000000020a0000000001', 'hex').copy(f, 0);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(ipLen, 16);
  f.writeUInt16BE(df ? 0x4000 : 0, 20);
  f[22] = 64;
  f[23] = 17;
  Buffer.from([10, 32, 0, 1, 10, 32, 0, 2]).copy(f, 26);
  f.writeUInt16BE(internetChecksum(f, 14, 20), 24);
  return f;
}

const tick = () => new Promise((r) => setImmediate(r));

describe('SleeveForwarder', function () {
  const live: SleeveForwarder[] = [];
  afterEach(function () {
    for (const f of live.splice(0)) f.stop();
  });
  const track = (f: SleeveForwarder) => (live.push(f), f);

  it('outbound: heartbeats (DF, connection UID) to the TCP peer address from confirm()', async function () {
    const t = new FakeTransport({ fastHeartbeatMs: 20 });
    const f = track(make(t, true));
    f.confirm();
    await tick();
    expect(t.registered).to.equal(f);
    // one; two when the loop was busy for longer than the first wait (loaded machine)
    expect(t.sent.length).to.be.within(1, 2);
    const hb = t.sent[0]!;
    expect(hb).to.include({ df: true, ip: REMOTE_IP, port: 6783 });
    expect(hb.frames).to.have.length(1);
    expect(hb.frames[0]!.data.equals(heartbeatFrame(UID))).to.equal(true);
    expect(hb.frames[0]!.src).to.equal(t.names.toNumber(US));
    expect(hb.frames[0]!.dst).to.equal(t.names.toNumber(THEM));
    await sleep(70);
    expect(t.sent.length).to.be.at.least(3); // fast heartbeats keep coming until acked
  });

  it('outbound: until acknowledged, heartbeats start fast and back off to the fast interval (a lost first one costs little)', async function () {
    const t = new FakeTransport({ firstHeartbeatMs: 10, fastHeartbeatMs: 400 });
    const f = track(make(t, true));
    const priv = f as unknown as { heartbeatInterval: number; sendHeartbeat(): void };
    f.confirm();
    // the wait armed after each heartbeat doubles until the fast interval
    const waits = [priv.heartbeatInterval];
    for (let i = 0; i < 6; i++) {
      priv.sendHeartbeat();
      waits.push(priv.heartbeatInterval);
    }
    expect(waits).to.deep.equal([20, 40, 80, 160, 320, 400, 400]);
    // and the timers really send: 0, 10, 30, 70, 150, 310 ms on an idle machine; the plain fast
    // interval would give one in 400 ms
    const g = track(make(new FakeTransport({ firstHeartbeatMs: 10, fastHeartbeatMs: 400 }), true));
    const sent = (g as unknown as { t: FakeTransport }).t.sent;
    g.confirm();
    await sleep(400);
    expect(sent.length).to.be.at.least(3);
    // acknowledged: the slow interval, no more ramp
    g.controlMessage(1, Buffer.alloc(0));
    expect((g as unknown as { heartbeatInterval: number }).heartbeatInterval).to.equal(DEFAULT_SLEEVE_TIMING.slowHeartbeatMs);
  });

  it('inbound: waits for a heartbeat, learns the address from it, answers and acks once; follows changes', async function () {
    const control: { tag: number; body: string }[] = [];
    const t = new FakeTransport();
    const f = track(make(t, false, control));
    f.confirm();
    await tick();
    expect(t.sent).to.deep.equal([]);
    expect(f.remoteAddress).to.equal(undefined);
    // a heartbeat for another connection is ignored
    f.receive(packetFrom(t, [{ data: heartbeatFrame(UID + 1n) }]), 0, 28, REMOTE_IP, 6783);
    expect(f.remoteAddress).to.equal(undefined);
    f.receive(packetFrom(t, [{ data: heartbeatFrame(UID) }]), 0, 36, REMOTE_IP, 6783);
    await tick();
    expect(f.remoteAddress).to.equal('198.18.2.2:6783');
    expect(control).to.deep.equal([{ tag: 1, body: '' }]);
    expect(t.sent.map((d) => d.ip)).to.deep.equal([REMOTE_IP]);
    f.receive(packetFrom(t, [{ data: heartbeatFrame(UID) }]), 0, 36, REMOTE_IP + 1, 7000);
    expect(f.remoteAddress).to.equal('198.18.2.3:7000');
    expect(control).to.have.length(1);
  });

  it('on ConnectionEstablished: established once, slow heartbeats, frag test (non-DF) and PMTU probe (DF)', async function () {
    const t = new FakeTransport();
    const f = track(make(t, true));
    let established = 0;
    f.on('established', () => established++);
    f.confirm();
    await tick();
    t.sent.length = 0;
    f.controlMessage(1, Buffer.alloc(0));
    f.controlMessage(1, Buffer.alloc(0));
    await tick();
    expect(established).to.equal(1);
    expect(f.established).to.equal(true);
    const sizes = t.sent.map((d) => `${d.df ? 'DF' : 'nonDF'}:${d.frames[0]!.len}`);
    expect(sizes).to.include('nonDF:60001');
    expect(sizes).to.include('DF:60000');
  });

  it('answers the remote\'s frag test and PMTU tests over the control channel', function () {
    const control: { tag: number; body: string }[] = [];
    const t = new FakeTransport();
    const f = track(make(t, true, control));
    f.confirm();
    f.receive(packetFrom(t, [{ data: Buffer.alloc(FRAG_TEST_SIZE) }]), 0, 14 + FRAG_TEST_SIZE, REMOTE_IP, 6783);
    f.receive(packetFrom(t, [{ data: Buffer.alloc(1452) }]), 0, 14 + 1452, REMOTE_IP, 6783);
    expect(control).to.deep.equal([
      { tag: 2, body: '' },
      { tag: 3, body: '059e' },
    ]);
  });

  it('finds the overlay MTU: EMSGSIZE -> IP_MTU -> verified test frame', async function () {
    const t = new FakeTransport();
    const f = track(make(t, true));
    f.confirm();
    await tick();
    t.sent.length = 0;
    f.sendFailed({ code: 'EMSGSIZE', message: 'too big' } as NativeError, true);
    await tick();
    expect(f.attrs().mtu).to.equal(1438);
    expect(t.sent.map((d) => `${d.df}:${d.frames[0]!.len}`)).to.deep.equal(['true:1452']);
    f.controlMessage(3, Buffer.from('059e', 'hex'));
    expect(f.attrs()).to.deep.equal({ name: 'sleeve', mtu: 1438, encrypted: false });
  });

  it('searches downwards when tests are not verified', async function () {
    const t = new FakeTransport({ mtuVerifyTimeoutMs: 1, mtuVerifyAttempts: 1 });
    const f = track(make(t, true));
    f.confirm();
    await tick();
    t.sent.length = 0;
    f.sendFailed({ code: 'EMSGSIZE', message: 'too big' } as NativeError, true);
    // candidate 1438 never verified; the next candidate is halfway down from 1438 to 552. Each
    // step waits 1 ms for a verification: on a loaded machine the whole search takes longer
    for (let waited = 0; f.attrs().mtu !== 552 && waited < 2000; waited += 10) await sleep(10);
    const tested = t.sent.map((d) => d.frames[0]!.len - 14);
    expect(tested.slice(0, 2)).to.deep.equal([1438, Math.floor((552 + 1438) / 2)]);
    // nothing ever verified: the search bottoms out at the floor
    expect(f.attrs().mtu).to.equal(552);
    expect(tested.at(-1)).to.equal(553);
  });

  it('batches up to 100 frames per packet and never beyond the path payload', async function () {
    const t = new FakeTransport();
    const f = track(make(t, true));
    f.confirm();
    await tick();
    t.sent.length = 0;
    const arp = Buffer.alloc(42, 1);
    arp.writeUInt16BE(0x0806, 12);
    for (let i = 0; i < 150; i++) f.forward(arp, 0, arp.length, US, THEM, false);
    await tick();
    expect(t.sent.map((d) => `${d.df}:${d.frames.length}`)).to.deep.equal(['false:100', 'false:50']);
    // after PMTU discovery, large frames go one per packet
    f.sendFailed({ code: 'EMSGSIZE', message: 'too big' } as NativeError, true);
    f.controlMessage(3, Buffer.from('059e', 'hex'));
    await tick();
    t.sent.length = 0;
    const big = ipv4Frame(true, 1000);
    for (let i = 0; i < 3; i++) f.forward(big, 0, big.length, US, THEM, false);
    await tick();
    expect(t.sent.map((d) => `${d.df}:${d.frames.length}`)).to.deep.equal(['true:1', 'true:1', 'true:1']);
  });

  it('answers oversized DF frames with ICMP frag-needed to the sender, drops oversized broadcasts', async function () {
    const t = new FakeTransport();
    const f = track(make(t, true));
    f.confirm();
    f.sendFailed({ code: 'EMSGSIZE', message: 'too big' } as NativeError, true);
    await tick();
    t.sent.length = 0;
    const big = ipv4Frame(true, 1439);
    f.forward(big, 0, big.length, US, THEM, true);
    expect(t.consumed).to.deep.equal([]);
    f.forward(big, 0, big.length, US, THEM, false);
    await tick();
    expect(t.sent).to.deep.equal([]);
    expect(t.consumed).to.have.length(1);
    expect(t.consumed[0]).to.include({ src: THEM, dst: US });
    const icmp = Buffer.from(t.consumed[0]!.hex, 'hex');
    expect(icmp[14 + 20]).to.equal(3);
    expect(icmp[14 + 21]).to.equal(4);
    expect(icmp.readUInt16BE(14 + 26)).to.equal(1438);
  });

  it('fragments oversized non-DF packets itself until the frag test succeeds, then leaves it to the kernel', async function () {
    const t = new FakeTransport();
    const f = track(make(t, true));
    f.confirm();
    f.sendFailed({ code: 'EMSGSIZE', message: 'too big' } as NativeError, true);
    f.controlMessage(3, Buffer.from('059e', 'hex'));
    await tick();
    t.sent.length = 0;
    const big = ipv4Frame(false, 3000);
    f.forward(big, 0, big.length, US, THEM, false);
    await tick();
    expect(t.sent.every((d) => d.df)).to.equal(true);
    expect(t.sent.flatMap((d) => d.frames).map((fr) => fr.len)).to.deep.equal([14 + 20 + 1416, 14 + 20 + 1416, 14 + 20 + 148]);
    t.sent.length = 0;
    f.controlMessage(2, Buffer.alloc(0)); // FragmentationReceived: the path fragments fine
    f.forward(big, 0, big.length, US, THEM, false);
    await tick();
    expect(t.sent.map((d) => `${d.df}:${d.frames[0]!.len}`)).to.deep.equal(['false:3014']);
  });

  it('hands received frames to the consumer, skipping unknown peers and special frames not for us', function () {
    const t = new FakeTransport();
    const f = track(make(t, true));
    f.confirm();
    const data = Buffer.from('0a00000000010a000000000208060001', 'hex');
    const pkt = packetFrom(t, [
      { data },
      { src: OTHER, dst: US, data },
      { src: '02:00:00:00:00:99', data },
      { src: OTHER, data: heartbeatFrame(UID) }, // special, but not from the neighbour
    ]);
    f.receive(pkt, 0, pkt.length, REMOTE_IP, 6783);
    expect(t.consumed.map((c) => `${c.src}>${c.dst}`)).to.deep.equal([`${THEM}>${US}`, `${OTHER}>${US}`]);
    expect(f.stats.framesReceived).to.equal(2);
    f.receive(pkt, 0, pkt.length - 1, REMOTE_IP, 6783);
    expect(f.stats.badPackets).to.equal(1);
  });

  it('reports an error when heartbeats stop, and on other send failures', async function () {
    const t = new FakeTransport({ heartbeatTimeoutMs: 30 });
    const f = track(make(t, true));
    const errors: string[] = [];
    f.on('error', (e) => errors.push(e.message));
    f.confirm();
    await sleep(60);
    expect(errors).to.deep.equal(['timed out waiting for UDP heartbeat']);
    expect(t.registered).to.equal(undefined);

    const g = track(make(new FakeTransport(), true));
    const gErrors: string[] = [];
    g.on('error', (e) => gErrors.push(e.message));
    g.confirm();
    g.sendFailed({ code: 'EPERM', message: 'sendmmsg: Operation not permitted' } as NativeError, false);
    expect(gErrors).to.have.length(1);
    expect(gErrors[0]).to.match(/EPERM|not permitted/);
  });

  it('drops frames until the remote address is known', function () {
    const t = new FakeTransport();
    const f = track(make(t, false));
    f.confirm();
    const data = Buffer.alloc(60);
    f.forward(data, 0, 60, US, THEM, false);
    expect(f.stats.dropped).to.equal(1);
  });
});

describe('sleeve control message framing', function () {
  const conn = (features: Record<string, string>, sent: { tag: number; hex: string }[]) =>
    ({ remote: { features }, send: (tag: number, p: Uint8Array) => sent.push({ tag, hex: Buffer.from(p).toString('hex') }) }) as unknown as MeshConnection;

  it('wraps in tag 7 [index 0][sub-tag][body] for peers with the Overlays feature', function () {
    const sent: { tag: number; hex: string }[] = [];
    defaultControlSender(conn({ Overlays: 'fastdp sleeve' }, sent))(3, Buffer.from('059e', 'hex'));
    expect(sent).to.deep.equal([{ tag: 7, hex: '0003059e' }]);
  });

  it('uses the legacy tags 1-3 for peers without it', function () {
    const sent: { tag: number; hex: string }[] = [];
    defaultControlSender(conn({}, sent))(1, Buffer.alloc(0));
    expect(sent).to.deep.equal([{ tag: 1, hex: '' }]);
  });
});
