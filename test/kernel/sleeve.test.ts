// Two "hosts" (namespaces with a weave bridge, our TAP capture and a sleeve overlay) joined by
// a veth underlay, each with a "container" namespace on its bridge. The TCP control channel is
// replaced by an in-process pair; everything else is the real data path.
import { expect } from 'chai';
import { execFile, execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { EventEmitter } from 'node:events';
import { promisify } from 'node:util';
import type { LocalIdentity, MeshConnection, MeshConnectionEvents, RemoteIdentity } from '../../router/mesh/contract.ts';
import { SleeveOverlay } from '../../router/overlay/sleeve.ts';
import { TapCapture } from '../../datapath/capture/tap-capture.ts';
import { UdpSockets } from '../../datapath/datagram/udp-sockets.ts';
import type { UdpSocket } from '../../datapath/datagram/udp-socket.ts';
import { NetworkRouter } from '../../router/overlay/network-router.ts';
import { MacCache } from '../../router/overlay/mac-cache.ts';
import { overlayHook } from '../../router/overlay/overlay-hook.ts';
import type { OverlayConnection } from '../../router/mesh/route-table.ts';
import { createRootLogger, silentLogger } from '../../common/logger.ts';
import type { Logger } from '../../common/logger.ts';

const execFileP = promisify(execFile);

function requireRoot(): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error('kernel tests must run as root (they create network namespaces and devices)');
  }
}

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function requireProgram(name: string): void {
  try {
    sh('sh', '-c', `command -v ${name}`);
  } catch {
    throw new Error(`this test needs ${name} installed`);
  }
}

class Netns {
  readonly name = `wv-s-${crypto.randomBytes(4).toString('hex')}`;
  readonly path = `/run/netns/${this.name}`;
  constructor() {
    sh('ip', 'netns', 'add', this.name);
    this.ip('link', 'set', 'lo', 'up');
  }
  ip(...args: string[]): string {
    return sh('ip', '-n', this.name, ...args);
  }
  async exec(cmd: string, ...args: string[]): Promise<{ code: number; out: string }> {
    try {
      const r = await execFileP('ip', ['netns', 'exec', this.name, cmd, ...args], { encoding: 'utf8' });
      return { code: 0, out: r.stdout + r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, out: (e.stdout ?? '') + (e.stderr ?? '') };
    }
  }
  destroy(): void {
    try {
      sh('ip', 'netns', 'del', this.name);
    } catch (err) {
      console.error(`cleanup: could not delete netns ${this.name}:`, err);
    }
  }
}

/** One end of an in-process "TCP connection": send() delivers to the other end's hook. */
class FakeConnection extends EventEmitter implements MeshConnection {
  peer!: FakeConnection;
  overlayConn: OverlayConnection | undefined;
  readonly sent: number[] = [];
  constructor(
    readonly local: LocalIdentity,
    readonly remote: RemoteIdentity,
    readonly outbound: boolean,
    readonly remoteAddr: string,
    readonly localAddr: string,
    readonly connUid: bigint,
    readonly sessionKey: Uint8Array | undefined,
  ) {
    super();
  }
  readonly version = 2;
  send(tag: number, payload: Uint8Array): void {
    this.sent.push(tag);
    const copy = Buffer.from(payload);
    // like TCP: later, in order
    setImmediate(() => this.peer.overlayConn?.onControlMessage(tag, copy));
  }
  close(): void {}
  override on<E extends keyof MeshConnectionEvents>(event: E, listener: MeshConnectionEvents[E]): this {
    return super.on(event, listener);
  }
  override off<E extends keyof MeshConnectionEvents>(event: E, listener: MeshConnectionEvents[E]): this {
    return super.off(event, listener);
  }
}

interface Host {
  ns: Netns;
  name: string;
  underlayIp: string;
  overlay?: SleeveOverlay;
  capture?: TapCapture;
  router?: NetworkRouter;
  macs?: MacCache;
  sockets: UdpSocket[];
}

const waitFor = async (what: string, cond: () => boolean, ms = 10000) => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('sleeve between two hosts (kernel)', function () {
  this.timeout(60000);
  const spaces: Netns[] = [];
  const children: ChildProcess[] = [];
  let h1: Host;
  let h2: Host;
  let c1: Netns;
  let c2: Netns;
  const logger: Logger = process.env.WEAVE_TEST_LOG ? createRootLogger({ level: process.env.WEAVE_TEST_LOG as 'debug' }) : silentLogger();

  before(function () {
    requireRoot();
    requireProgram('ping');
    const mk = () => {
      const n = new Netns();
      spaces.push(n);
      return n;
    };
    h1 = { ns: mk(), name: '02:00:00:00:01:01', underlayIp: '198.18.2.1', sockets: [] };
    h2 = { ns: mk(), name: '02:00:00:00:02:02', underlayIp: '198.18.2.2', sockets: [] };
    c1 = mk();
    c2 = mk();
    // underlay: one veth between the hosts, MTU 1500
    h1.ns.ip('link', 'add', 'under0', 'mtu', '1500', 'type', 'veth', 'peer', 'name', 'under0', 'netns', h2.ns.name);
    for (const h of [h1, h2]) {
      h.ns.ip('addr', 'add', `${h.underlayIp}/24`, 'dev', 'under0');
      h.ns.ip('link', 'set', 'under0', 'up');
      h.ns.ip('link', 'add', 'weave', 'mtu', '1500', 'type', 'bridge');
      h.ns.ip('link', 'set', 'weave', 'up');
    }
    // containers on the bridges, addresses from 10.32.0.0/12
    for (const [h, c, ip] of [[h1, c1, '10.32.0.1'], [h2, c2, '10.32.0.2']] as const) {
      h.ns.ip('link', 'add', 'vethwl0', 'mtu', '1500', 'type', 'veth', 'peer', 'name', 'ethwe', 'netns', c.name);
      h.ns.ip('link', 'set', 'vethwl0', 'master', 'weave', 'up');
      c.ip('addr', 'add', `${ip}/12`, 'dev', 'ethwe');
      c.ip('link', 'set', 'ethwe', 'up');
    }
  });

  after(function () {
    for (const ch of children) if (ch.exitCode === null && ch.pid !== undefined) process.kill(ch.pid);
    for (const h of [h1, h2]) if (h) stopHost(h);
    for (const n of spaces) n.destroy();
  });

  function stopHost(h: Host): void {
    h.overlay?.stop();
    h.capture?.close();
    h.macs?.stop();
    h.overlay = h.capture = h.router = h.macs = undefined;
  }

  async function startHost(h: Host, other: Host, offloads = false): Promise<void> {
    // keeps the sockets the overlay opens, for their offload counters
    const sockets = new (class extends UdpSockets {
      override open(o: Parameters<UdpSockets['open']>[0]) {
        const s = super.open(o);
        h.sockets.push(s as UdpSocket);
        return s;
      }
    })({ netns: h.ns.path, offloads });
    h.sockets = [];
    const overlay = new SleeveOverlay({ ourName: h.name, logger, sockets, bindAddress: h.underlayIp, bridgeMtu: 1500 });
    const macs = new MacCache();
    macs.start();
    const late: { router?: NetworkRouter } = {};
    const capture = await TapCapture.open({ netns: h.ns.path, logger, offloads, onFrame: (buf, off, len) => late.router?.handleCaptured(buf, off, len) });
    const router = new NetworkRouter({
      routes: {
        ourName: h.name,
        unicastNextHop: (dst) => (dst === other.name ? other.name : undefined),
        broadcastNextHops: (src) => (src === h.name ? [other.name] : []),
      },
      forwarders: overlay,
      injector: capture,
      macs,
      logger,
    });
    late.router = router;
    overlay.start(router);
    Object.assign(h, { overlay, capture, router, macs });
  }

  /** Connects the two hosts' overlays through a fake TCP connection; resolves when both
   *  report established. */
  async function connect(opts: { key?: Uint8Array; overlaysFeature: boolean }) {
    const connUid = BigInt.asUintN(64, BigInt(`0x${crypto.randomBytes(8).toString('hex')}`));
    const ident = (h: Host): LocalIdentity => ({ name: h.name, nickname: h.ns.name, uid: 1n, shortId: 1 });
    const remote = (h: Host): RemoteIdentity => ({ ...ident(h), connId: 7n, features: opts.overlaysFeature ? { Overlays: 'sleeve' } : {} });
    const out = new FakeConnection(ident(h1), remote(h2), true, `${h2.underlayIp}:6783`, `${h1.underlayIp}:40000`, connUid, opts.key);
    const inb = new FakeConnection(ident(h2), remote(h1), false, `${h1.underlayIp}:40000`, `${h2.underlayIp}:6783`, connUid, opts.key);
    out.peer = inb;
    inb.peer = out;
    const state = { est1: false, est2: false, failed: [] as string[] };
    out.overlayConn = overlayHook(h1.overlay!, logger).attach(out, { markEstablished: () => (state.est1 = true), fail: (e) => state.failed.push(`h1: ${e.message}`) });
    inb.overlayConn = overlayHook(h2.overlay!, logger).attach(inb, { markEstablished: () => (state.est2 = true), fail: (e) => state.failed.push(`h2: ${e.message}`) });
    await waitFor('both sides established', () => (state.est1 && state.est2) || state.failed.length > 0);
    expect(state.failed).to.deep.equal([]);
    return { out, inb, state };
  }

  async function ping(from: Netns, to: string, ...extra: string[]) {
    return from.exec('ping', '-c', '3', '-i', '0.2', '-W', '2', ...extra, to);
  }

  // offloads: [h1, h2] — TSO on the capture and UDP GSO/GRO; h1 alone with them is a peer
  // whose other end has none (the datagrams on the wire must be the same)
  for (const mode of [
    { title: 'plain, control over tag 7', encrypted: false, overlaysFeature: true, offloads: [false, false] },
    { title: 'encrypted, legacy control tags 1-3', encrypted: true, overlaysFeature: false, offloads: [false, false] },
    { title: 'plain, offloads on both ends', encrypted: false, overlaysFeature: true, offloads: [true, true] },
    { title: 'encrypted, offloads on one end only', encrypted: true, overlaysFeature: true, offloads: [true, false] },
  ]) {
    describe(mode.title, function () {
      let conns: Awaited<ReturnType<typeof connect>>;
      before(async function () {
        // an earlier mode's ICMP frag-needed left a PMTU in the containers' route caches
        for (const c of [c1, c2]) c.ip('route', 'flush', 'cache');
        await startHost(h1, h2, mode.offloads[0]);
        await startHost(h2, h1, mode.offloads[1]);
        conns = await connect({ overlaysFeature: mode.overlaysFeature, ...(mode.encrypted ? { key: crypto.randomBytes(32) } : {}) });
      });
      after(function () {
        stopHost(h1);
        stopHost(h2);
      });

      it('establishes through heartbeats, learning the inbound side\'s address, with the expected control tags', function () {
        const f1 = h1.overlay!.forwarderTo(h2.name)!;
        const f2 = h2.overlay!.forwarderTo(h1.name)!;
        expect(f1.remoteAddress).to.equal('198.18.2.2:6783');
        expect(f2.remoteAddress).to.equal('198.18.2.1:6783'); // learned from h1's heartbeat
        expect(f1.attrs()).to.include({ name: 'sleeve', encrypted: mode.encrypted });
        const tags = [...new Set([...conns.out.sent, ...conns.inb.sent])].sort();
        // both ends sent ConnectionEstablished, FragmentationReceived and PMTUVerified by now
        // or soon; at least ConnectionEstablished, wrapped or not
        if (mode.overlaysFeature) expect(tags).to.deep.equal([7]);
        else expect(tags.every((t) => t >= 1 && t <= 3) && tags.includes(1)).to.equal(true, `tags ${tags.join(',')}`);
      });

      it('carries pings between the containers both ways', async function () {
        const a = await ping(c1, '10.32.0.2');
        expect(a.code, a.out).to.equal(0);
        const b = await ping(c2, '10.32.0.1');
        expect(b.code, b.out).to.equal(0);
        // the routers learned the remote container MACs at the right peers
        expect(h1.macs!.entries().map((e) => e.peer)).to.include(h2.name);
        expect(h1.capture!.stats.captured).to.be.greaterThan(0);
        expect(h2.capture!.stats.injected).to.be.greaterThan(0);
      });

      it('sends a lone frame in the same event-loop turn: no timer between it and the socket (idle latency)', async function () {
        const f1 = h1.overlay!.forwarderTo(h2.name)!;
        // unicast to a MAC nobody has, local experimental ethertype: h2 floods it on its bridge
        const frame = Buffer.alloc(60);
        Buffer.from('020000009999020000009998', 'hex').copy(frame, 0);
        frame.writeUInt16BE(0x88b5, 12);
        const out = h1.overlay!.stats.packetsOut;
        const inAtH2 = h2.overlay!.stats.packetsIn;
        f1.forward(frame, 0, frame.length, h1.name, h2.name, false);
        // the flush was queued as a microtask when the frame came in, so it has run once ours
        // does; no timer or I/O phase has passed
        await Promise.resolve();
        expect(h1.overlay!.stats.packetsOut).to.equal(out + 1);
        await waitFor('the datagram at h2', () => h2.overlay!.stats.packetsIn > inAtH2);
      });

      it(mode.encrypted ? 'carries no container payload in clear on the underlay' : 'carries container payloads in clear on the underlay (no key)', async function () {
        requireProgram('tcpdump');
        const file = `/tmp/${h1.ns.name}-${mode.encrypted ? 'enc' : 'plain'}.pcap`;
        const dump = spawn('ip', ['netns', 'exec', h1.ns.name, 'tcpdump', '-i', 'under0', '-U', '-s', '0', '-w', file, 'udp port 6783'], { stdio: 'ignore' });
        children.push(dump);
        try {
          await new Promise((r) => setTimeout(r, 500));
          const r = await ping(c1, '10.32.0.2', '-p', 'deadbeefcafe0123');
          expect(r.code, r.out).to.equal(0);
          await new Promise((r) => setTimeout(r, 200));
        } finally {
          dump.kill('SIGTERM');
          await new Promise((r) => dump.once('exit', r));
        }
        const bytes = fs.readFileSync(file);
        fs.rmSync(file, { force: true });
        expect(bytes.length).to.be.greaterThan(200); // the pings were captured
        expect(bytes.includes(Buffer.from('deadbeefcafe0123', 'hex'))).to.equal(!mode.encrypted);
      });

      it('finds the path MTU (1500 underlay) and answers oversized DF packets with ICMP frag-needed', async function () {
        const expected = mode.encrypted ? 1414 : 1438;
        const f1 = h1.overlay!.forwarderTo(h2.name)!;
        await waitFor('PMTU discovery', () => f1.attrs().mtu === expected);
        // a DF ping that fits the overlay MTU passes...
        const fits = await ping(c1, '10.32.0.2', '-M', 'do', '-s', String(expected - 28));
        expect(fits.code, fits.out).to.equal(0);
        // ...one byte more does not, and the sender learns the MTU from our ICMP
        const big = await c1.exec('ping', '-c', '2', '-i', '0.3', '-W', '1', '-M', 'do', '-s', String(expected - 27), '10.32.0.2');
        expect(big.code).to.not.equal(0);
        expect(big.out).to.match(new RegExp(`mtu = ${expected}`));
        // non-DF packets bigger than the path are fragmented and still arrive
        const frag = await ping(c1, '10.32.0.2', '-M', 'dont', '-s', '3000');
        expect(frag.code, frag.out).to.equal(0);
      });

      it('moves TCP (iperf3, 3 s) and prints the throughput', async function () {
        const server = spawn('ip', ['netns', 'exec', c2.name, 'iperf3', '-s', '-1'], { stdio: 'ignore' });
        children.push(server);
        await new Promise((r) => setTimeout(r, 300));
        const r = await c1.exec('iperf3', '-c', '10.32.0.2', '-t', '3', '-J');
        expect(r.code, r.out.slice(0, 500)).to.equal(0);
        const report = JSON.parse(r.out) as { end: { sum_received: { bits_per_second: number } } };
        console.log(`      iperf3 over sleeve (${mode.title}): ${(report.end.sum_received.bits_per_second / 1e6).toFixed(0)} Mbit/s`);
        expect(report.end.sum_received.bits_per_second).to.be.greaterThan(0);
        const cap = h1.capture!.nativeStats();
        const sent = h1.sockets.map((s) => s.stats()).reduce((a, s) => a + s.gsoSends, 0);
        const coalesced = h2.sockets.map((s) => s.stats()).reduce((a, s) => a + s.groReads, 0);
        if (mode.offloads[0]) {
          // the stream really took the offload paths: super-frames from the TAP, GSO sends...
          expect(cap.superFrames, 'TSO super-frames segmented').to.be.greaterThan(0);
          expect(sent, 'UDP GSO sends').to.be.greaterThan(0);
          // ...split again by a receiver with GRO; one without sees ordinary datagrams
          if (mode.offloads[1]) {
            expect(coalesced, 'UDP GRO reads').to.be.greaterThan(0);
            // ...and written to the receiving bridge as super-frames again
            expect(h2.capture!.nativeStats().superFramesOut, 'super-frames injected').to.be.greaterThan(0);
          }
          else expect(coalesced).to.equal(0);
        } else {
          expect(cap.superFrames + sent).to.equal(0);
        }
        expect(cap.badFrames).to.equal(0);
      });
    });
  }
});
