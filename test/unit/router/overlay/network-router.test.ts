import { expect } from 'chai';
import { NetworkRouter } from '../../../../router/overlay/network-router.ts';
import type { FrameForwarder, RouterRoutes } from '../../../../router/overlay/network-router.ts';
import { MacCache, macFromString } from '../../../../router/overlay/mac-cache.ts';
import { silentLogger } from '../../../../common/logger.ts';

const US = '02:00:00:00:00:01';
const B = '02:00:00:00:00:02';
const C = '02:00:00:00:00:03';
const D = '02:00:00:00:00:04';

const LOCAL = '0a:00:00:00:00:01';
const REMOTE_B = '0a:00:00:00:00:02';
const REMOTE_D = '0a:00:00:00:00:04';
const BCAST = 'ff:ff:ff:ff:ff:ff';

function frame(dst: string, src: string, payload = 'abcd'): Buffer {
  // put the frame at an offset inside a bigger buffer, as batch memory does
  const f = Buffer.concat([Buffer.from('eeee', 'hex'), Buffer.from(dst.replace(/:/g, '') + src.replace(/:/g, '') + '0800' + payload, 'hex'), Buffer.from('ee', 'hex')]);
  return f;
}
const OFF = 2;
const len = (f: Buffer) => f.length - 3;

interface Sent {
  via: string;
  src: string;
  dst: string;
  broadcast: boolean;
  bytes: string;
}

describe('NetworkRouter', function () {
  let sent: Sent[];
  let injected: string[];
  let macs: MacCache;
  let router: NetworkRouter;
  // topology: US - B (direct), US - C (direct), D reachable via C
  const routes: RouterRoutes = {
    ourName: US,
    unicastNextHop: (dst) => ({ [B]: B, [C]: C, [D]: C })[dst],
    broadcastNextHops: (src) => (src === US ? [B, C] : src === D ? [B] : []),
  };
  const forwarderFor = (via: string): FrameForwarder => ({
    forward(buf, off, n, src, dst, broadcast) {
      sent.push({ via, src, dst, broadcast, bytes: buf.subarray(off, off + n).toString('hex') });
    },
  });

  beforeEach(function () {
    sent = [];
    injected = [];
    macs = new MacCache();
    const fwds = new Map([B, C].map((p) => [p, forwarderFor(p)]));
    router = new NetworkRouter({
      routes,
      forwarders: { forwarderTo: (p) => fwds.get(p) },
      injector: { inject: (buf, off, n) => injected.push(buf.subarray(off, off + n).toString('hex')) },
      macs,
      logger: silentLogger(),
    });
  });

  it('learns local source MACs and broadcasts unknown destinations along our broadcast routes', function () {
    const f = frame(REMOTE_B, LOCAL);
    router.handleCaptured(f, OFF, len(f));
    expect(macs.lookup(macFromString(LOCAL))).to.equal(US);
    const bytes = f.subarray(OFF, OFF + len(f)).toString('hex');
    expect(sent).to.deep.equal([
      { via: B, src: US, dst: B, broadcast: true, bytes },
      { via: C, src: US, dst: C, broadcast: true, bytes },
    ]);
  });

  it('broadcasts broadcast and multicast destinations', function () {
    const f = frame(BCAST, LOCAL);
    router.handleCaptured(f, OFF, len(f));
    const m = frame('01:00:5e:00:00:01', LOCAL);
    router.handleCaptured(m, OFF, len(m));
    expect(sent.map((s) => s.via)).to.deep.equal([B, C, B, C]);
  });

  it('unicasts to a known remote MAC via the next hop, keeping the final destination peer', function () {
    macs.addForced(macFromString(REMOTE_D), D);
    const f = frame(REMOTE_D, LOCAL);
    router.handleCaptured(f, OFF, len(f));
    expect(sent).to.have.length(1);
    expect(sent[0]).to.include({ via: C, src: US, dst: D, broadcast: false });
  });

  it('drops STP, frames for local MACs, and frames whose source MAC lives at another peer', function () {
    const stp = frame('01:80:c2:00:00:00', LOCAL);
    router.handleCaptured(stp, OFF, len(stp));
    macs.add(macFromString('0a:00:00:00:00:09'), US);
    const local = frame('0a:00:00:00:00:09', LOCAL);
    router.handleCaptured(local, OFF, len(local));
    macs.addForced(macFromString(REMOTE_B), B);
    const echoed = frame(BCAST, REMOTE_B); // our own injected frame coming back
    router.handleCaptured(echoed, OFF, len(echoed));
    const runt = Buffer.alloc(10);
    router.handleCaptured(runt, 0, 10);
    expect(sent).to.deep.equal([]);
    expect(router.stats.dropped).to.equal(4);
    expect(macs.lookup(macFromString(REMOTE_B))).to.equal(B);
  });

  it('drops unicast frames for peers without a route or without a forwarder', function () {
    macs.addForced(macFromString(REMOTE_D), '02:00:00:00:00:99');
    const f = frame(REMOTE_D, LOCAL);
    router.handleCaptured(f, OFF, len(f));
    expect(sent).to.deep.equal([]);
    expect(router.stats.dropped).to.equal(1);
  });

  it('relays received frames that are not addressed to us, without learning or injecting', function () {
    const f = frame(REMOTE_D, REMOTE_B);
    router.handleForwarded(B, D, f, OFF, len(f));
    expect(sent).to.have.length(1);
    expect(sent[0]).to.include({ via: C, src: B, dst: D, broadcast: false });
    expect(injected).to.deep.equal([]);
    expect(macs.lookup(macFromString(REMOTE_B))).to.equal(undefined);
  });

  it('injects unicast frames for local MACs and learns the remote source at the source peer', function () {
    macs.add(macFromString(LOCAL), US);
    const f = frame(LOCAL, REMOTE_D);
    router.handleForwarded(D, US, f, OFF, len(f));
    expect(injected).to.deep.equal([f.subarray(OFF, OFF + len(f)).toString('hex')]);
    expect(sent).to.deep.equal([]);
    expect(macs.lookup(macFromString(REMOTE_D))).to.equal(D);
  });

  it('injects received broadcasts and continues the broadcast tree of the original source', function () {
    const f = frame(BCAST, REMOTE_D);
    router.handleForwarded(D, US, f, OFF, len(f));
    expect(injected).to.have.length(1);
    expect(sent).to.have.length(1);
    expect(sent[0]).to.include({ via: B, src: D, dst: B, broadcast: true });
  });

  it('moves a MAC learned at one peer when it shows up at another', function () {
    macs.add(macFromString(REMOTE_B), B);
    macs.add(macFromString(LOCAL), US);
    const f = frame(LOCAL, REMOTE_B);
    router.handleForwarded(D, US, f, OFF, len(f));
    expect(macs.lookup(macFromString(REMOTE_B))).to.equal(D);
    router.peerRemoved(D);
    expect(macs.lookup(macFromString(REMOTE_B))).to.equal(undefined);
  });
});
