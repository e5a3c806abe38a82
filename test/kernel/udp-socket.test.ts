// The addon's batched UDP sockets (recvmmsg/sendmmsg) inside throwaway namespaces.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { formatIpv4, parseIpv4 } from '../../common/ipv4.ts';
import { DatagramBatch } from '../../datapath/datagram/contract.ts';
import type { ReceivedBatch } from '../../datapath/datagram/contract.ts';
import { UdpSocket } from '../../datapath/datagram/udp-socket.ts';
import type { NativeError } from '../../datapath/native/index.ts';

function requireRoot(): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error('kernel tests must run as root (they create network namespaces)');
  }
}

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

class Netns {
  readonly name = `wv-s-${crypto.randomBytes(4).toString('hex')}`;
  readonly path = `/run/netns/${this.name}`;
  constructor() {
    sh('ip', 'netns', 'add', this.name);
    sh('ip', '-n', this.name, 'link', 'set', 'lo', 'up');
  }
  ip(...args: string[]): string {
    return sh('ip', '-n', this.name, ...args);
  }
  destroy(): void {
    try {
      sh('ip', 'netns', 'del', this.name);
    } catch (err) {
      console.error(`cleanup: could not delete netns ${this.name}:`, err);
    }
  }
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('batched UDP sockets (kernel)', function () {
  this.timeout(30000);
  const made: Netns[] = [];
  const sockets: UdpSocket[] = [];
  let ns: Netns;

  before(function () {
    requireRoot();
    ns = new Netns();
    made.push(ns);
    ns.ip('addr', 'add', '198.18.0.1/32', 'dev', 'lo');
    ns.ip('addr', 'add', '198.18.0.2/32', 'dev', 'lo');
  });
  after(function () {
    for (const s of sockets) if (!s.closed) s.close();
    for (const n of made) n.destroy();
  });

  it('exchanges 10 000 datagrams each way in batches, none lost, sources correct', async function () {
    const total = 10000;
    const seen = { a: new Uint8Array(total), b: new Uint8Array(total) };
    const bad: string[] = [];
    let got = { a: 0, b: 0 };
    const receiver = (me: 'a' | 'b', fromIp: string, fromPort: () => number) => (batch: ReceivedBatch) => {
      for (let i = 0; i < batch.count; i++) {
        const d = batch.data(i);
        if (d.length !== 100 || formatIpv4(batch.ip(i)) !== fromIp || batch.port(i) !== fromPort()) {
          bad.push(`${me}: len ${d.length} from ${formatIpv4(batch.ip(i))}:${batch.port(i)}`);
          continue;
        }
        const seq = d.readUInt32BE(0);
        if (seq >= total || seen[me][seq] !== 0 || d[99] !== (seq & 255)) bad.push(`${me}: seq ${seq}`);
        else seen[me][seq] = 1;
        got = { ...got, [me]: got[me] + 1 };
      }
    };
    const ports = { a: 0, b: 0 };
    const a = UdpSocket.open({ address: '198.18.0.1', netns: ns.path, rcvbuf: 4 << 20, onBatch: receiver('a', '198.18.0.2', () => ports.b) });
    sockets.push(a);
    const b = UdpSocket.open({ address: '198.18.0.2', netns: ns.path, rcvbuf: 4 << 20, onBatch: receiver('b', '198.18.0.1', () => ports.a) });
    sockets.push(b);
    ports.a = a.port;
    ports.b = b.port;
    expect(a.port).to.be.greaterThan(0);
    expect(a.address).to.equal('198.18.0.1');

    const batch = new DatagramBatch(64 * 100, 64);
    const payload = Buffer.alloc(100);
    const pump = async (from: UdpSocket, to: UdpSocket, toIp: string, mine: 'a' | 'b') => {
      const dst = parseIpv4(toIp);
      for (let seq = 0; seq < total; ) {
        // Stay well inside the receiver's socket buffer: loopback drops on overflow.
        const other = mine === 'a' ? got.b : got.a;
        if (seq - other > 2048) {
          await wait(1);
          continue;
        }
        batch.clear();
        for (let k = 0; k < 64 && seq < total; k++, seq++) {
          payload.writeUInt32BE(seq, 0);
          payload[99] = seq & 255;
          batch.add(payload, dst, to.port);
        }
        const r = from.send(batch);
        expect(r).to.deep.equal({ sent: batch.count, failed: 0, dropped: 0 });
        await new Promise((res) => setImmediate(res));
      }
    };
    // one pump at a time shares `batch`; interleave by running them alternately
    await pump(a, b, '198.18.0.2', 'a');
    await pump(b, a, '198.18.0.1', 'b');
    const deadline = Date.now() + 10000;
    while ((got.a < total || got.b < total) && Date.now() < deadline) await wait(10);
    expect(bad.slice(0, 5)).to.deep.equal([]);
    expect(got).to.deep.equal({ a: total, b: total });
    expect(seen.a.every((x) => x === 1) && seen.b.every((x) => x === 1)).to.equal(true);
    const sa = a.stats();
    const sb = b.stats();
    console.log(`      a: ${JSON.stringify(sa)}\n      b: ${JSON.stringify(sb)}`);
    expect(sa.sent).to.equal(total);
    expect(sa.sendCalls).to.be.at.most(Math.ceil(total / 64) + 1);
    expect(sb.received).to.equal(total);
    // batching really happened on the receive side: fewer recvmmsg calls than datagrams
    expect(sb.recvCalls).to.be.lessThan(total);
    a.close();
    b.close();
    expect(a.closed).to.equal(true);
  });

  it('reports EMSGSIZE for a DF datagram above the path MTU, with IP_MTU readable when connected', async function () {
    const peer = new Netns();
    made.push(peer);
    const veth = `wvs${crypto.randomBytes(3).toString('hex')}`;
    ns.ip('link', 'add', veth, 'mtu', '1400', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer.name);
    ns.ip('addr', 'add', '198.18.1.1/24', 'dev', veth);
    ns.ip('link', 'set', veth, 'up');
    peer.ip('link', 'set', 'eth0', 'mtu', '1400', 'up');
    peer.ip('addr', 'add', '198.18.1.2/24', 'dev', 'eth0');

    const lens: number[] = [];
    const rx = UdpSocket.open({ address: '198.18.1.2', port: 6783, netns: peer.path, onBatch: (b) => { for (let i = 0; i < b.count; i++) lens.push(b.length(i)); } });
    sockets.push(rx);
    const df = UdpSocket.open({ address: '198.18.1.1', port: 6783, netns: ns.path, pmtuDiscover: 'do', onBatch: () => undefined });
    sockets.push(df);
    df.connect('198.18.1.2', 6783);
    expect(df.pathMtu()).to.equal(1400);

    const batch = new DatagramBatch(8192, 4);
    batch.add(Buffer.alloc(1000), 0, 0);
    batch.add(Buffer.alloc(1400 - 28 + 1), 0, 0); // one byte over the path MTU
    batch.add(Buffer.alloc(1400 - 28), 0, 0); // exactly fits
    const errors: { code: string; index: number }[] = [];
    const r = df.send(batch, (err: NativeError, index) => errors.push({ code: err.code, index }));
    expect(r).to.deep.equal({ sent: 2, failed: 1, dropped: 0 });
    expect(errors).to.deep.equal([{ code: 'EMSGSIZE', index: 1 }]);

    // the same datagram without DF is fragmented by the kernel and arrives whole
    df.setPmtuDiscover('dont');
    batch.clear();
    batch.add(Buffer.alloc(3000), 0, 0);
    expect(df.send(batch)).to.deep.equal({ sent: 1, failed: 0, dropped: 0 });
    const deadline = Date.now() + 3000;
    while (lens.length < 3 && Date.now() < deadline) await wait(10);
    expect(lens).to.deep.equal([1000, 1372, 3000]);
  });

  it('refuses to bind an address that only exists in another namespace', function () {
    // 198.18.0.1 lives on the test namespace's loopback, not in ours
    let err: NativeError | undefined;
    try {
      sockets.push(UdpSocket.open({ address: '198.18.0.1', onBatch: () => undefined }));
    } catch (e) {
      err = e as NativeError;
    }
    expect(err?.code).to.equal('EADDRNOTAVAIL');
  });

  it('with offloads, sends runs of equal datagrams as one UDP_SEGMENT message; a GRO receiver splits them back exactly, one without sees the same datagrams', async function () {
    const sizes = [...Array<number>(20).fill(1000), 333, 500, 500, 200, 700, 7];
    const received = { gro: [] as string[], plain: [] as string[] };
    const rx = (into: string[]) => (b: ReceivedBatch) => {
      for (let i = 0; i < b.count; i++) into.push(b.data(i).toString('hex'));
    };
    const gro = UdpSocket.open({ address: '198.18.0.2', netns: ns.path, offloads: true, onBatch: rx(received.gro) });
    const plain = UdpSocket.open({ address: '198.18.0.2', netns: ns.path, onBatch: rx(received.plain) });
    const tx = UdpSocket.open({ address: '198.18.0.1', netns: ns.path, offloads: true, onBatch: () => undefined });
    sockets.push(gro, plain, tx);
    const sent: string[] = [];
    const batch = new DatagramBatch(1 << 20, 256);
    for (const to of [gro, plain]) {
      sizes.forEach((n, i) => {
        const d = crypto.randomBytes(n);
        d[0] = i;
        d.copy(batch.data, batch.used);
        batch.push(n, parseIpv4('198.18.0.2'), to.port);
        if (to === gro) sent.push(d.toString('hex'));
      });
    }
    const r = tx.send(batch);
    expect(r).to.deep.equal({ sent: 2 * sizes.length, failed: 0, dropped: 0 });
    const deadline = Date.now() + 5000;
    while ((received.gro.length < sizes.length || received.plain.length < sizes.length) && Date.now() < deadline) await wait(20);
    expect(received.gro).to.deep.equal(sent);
    expect(received.plain.map((h) => h.length / 2)).to.deep.equal(sizes);
    // runs: 20 x 1000 + 333 (a shorter last one ends a run), 500 + 500 + 200, 700 + 7 — per receiver
    expect(tx.stats().gsoSends).to.equal(6);
    expect(gro.stats().groReads).to.be.greaterThan(0);
    expect(plain.stats().groReads).to.equal(0);
  });
});
