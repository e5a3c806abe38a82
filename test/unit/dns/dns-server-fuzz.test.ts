// Bounded fuzz of the DNS server: 10 000 malformed packets over UDP (plus a few TCP frames),
// after which it still answers, with every packet accounted for in its stats. 127.0.0.1 only.
import dgram from 'node:dgram';
import net from 'node:net';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import winston from 'winston';
import { DnsServer } from '../../../dns/dns-server.ts';
import { Entries } from '../../../dns/entries.ts';
import { StaticUpstream } from '../../../dns/upstream.ts';
import { FakeUpstream, query, tcpAsk, udpAsk } from './dns-test-helpers.ts';

/** Deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const header = (id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer => {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ns, 8);
  h.writeUInt16BE(ar, 10);
  return h;
};

/** Packets that are malformed by construction: none can decode as a well-formed query. */
function malformed(rand: () => number, i: number): Buffer {
  const int = (n: number): number => Math.floor(rand() * n);
  const valid = query(['web.weave.local', 'example.com', 'x'][i % 3]!, 'A', { id: int(0x10000) });
  switch (i % 6) {
    case 0: // random bytes, some shorter than a header
      return Buffer.from(Array.from({ length: int(600) }, () => int(256)));
    case 1: // a valid query cut short
      return valid.subarray(0, int(valid.length));
    case 2: {
      // compression pointers: to itself, forwards, and two pointing at each other
      const kind = int(3);
      const name = kind === 0 ? [0xc0, 12] : kind === 1 ? [0xc0, 40] : [0xc0, 14, 0xc0, 12];
      return Buffer.concat([header(int(0x10000), 0x0100, 1), Buffer.from([...name, 0, 1, 0, 1])]);
    }
    case 3: // huge counts with little behind them
      return Buffer.concat([header(int(0x10000), 0x0100, 1 + int(0xffff), int(0x10000), int(0x10000), 0xffff), valid.subarray(12)]);
    case 4: {
      // a bad label type (0x40/0x80 prefixes are not defined) or an over-long name
      if (int(2)) return Buffer.concat([header(int(0x10000), 0x0100, 1), Buffer.from([0x40 | int(64), 0x61, 0, 0, 1, 0, 1])]);
      const labels = Array.from({ length: 5 }, () => [63, ...Buffer.alloc(63, 0x61)]).flat();
      return Buffer.concat([header(int(0x10000), 0x0100, 1), Buffer.from([...labels, 0, 0, 1, 0, 1])]);
    }
    default: // a "response" sent to us, random after the header
      return Buffer.concat([header(int(0x10000), 0x8000 | int(0x8000), int(4)), Buffer.from(Array.from({ length: int(100) }, () => int(256)))]);
  }
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('dns/dns server fuzz', function () {
  this.timeout(20000);
  let upstream: FakeUpstream;
  let server: DnsServer;
  const warnings: { message: string; count: number }[] = [];
  const logger = winston.createLogger({
    level: 'info',
    format: winston.format.json(),
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          write(chunk: Buffer, _enc, cb) {
            const line = JSON.parse(String(chunk)) as { level: string; message: string; count?: number };
            if (line.level === 'warn') warnings.push({ message: line.message, count: line.count ?? 0 });
            cb();
          },
        }),
      }),
    ],
  });

  before(async () => {
    upstream = await new FakeUpstream().start();
    const table = new Entries();
    table.add('web.weave.local.', 'c1', '0a:00:00:00:00:01', 0x0a200001);
    server = new DnsServer({
      table,
      upstream: new StaticUpstream([{ address: '127.0.0.1', port: upstream.port }]),
      address: '127.0.0.1',
      port: 0,
      upstreamTimeoutMs: 300,
      logger,
      malformedReportMs: 100,
    });
    await server.start();
  });

  after(async () => {
    await server.stop();
    await upstream.stop();
  });

  it('survives 10 000 malformed UDP packets, counts every one, and still answers', async () => {
    const { port } = server.address();
    const rand = prng(0x5eed);
    const sock = dgram.createSocket('udp4');
    sock.on('message', () => undefined);
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const N = 10_000;
    const BATCH = 50;
    try {
      for (let sent = 0; sent < N; ) {
        // in batches, waiting for the server to take each, so the kernel drops none
        for (let k = 0; k < BATCH && sent < N; k++, sent++) sock.send(malformed(rand, sent), port, '127.0.0.1');
        const target = sent;
        await until(() => server.stats().received >= target).catch((e: unknown) => {
          throw new Error(`${String(e)} at ${target}: ${JSON.stringify(server.stats())}`);
        });
      }
    } finally {
      sock.close();
    }
    const s = server.stats();
    expect(s.received).to.equal(N);
    expect(s.malformed).to.equal(N);
    expect(s.formerr).to.be.greaterThan(0);
    expect(s.formerr).to.be.below(N);
    expect(s.internalErrors).to.equal(0);
    expect(s.forwarded + s.local).to.equal(0);
    const ok = await udpAsk(port, query('web.weave.local'));
    expect(ok.packet.answers.map((a) => a.data)).to.deep.equal(['10.32.0.1']);
    // at the default level the log sums them up, rate-limited, with the last reason
    await until(() => warnings.reduce((n, w) => n + w.count, 0) >= N);
    expect(warnings.reduce((n, w) => n + w.count, 0)).to.equal(N);
    expect(warnings.length).to.be.below(100);
    expect(warnings[0]!.message).to.match(/^ignored \d+ malformed DNS packet\(s\); the last: udp from 127\.0\.0\.1: (dropped|FORMERR): ./);
  });

  it('survives malformed TCP frames, and closes a connection on a zero-length frame', async () => {
    const { port } = server.address();
    const rand = prng(7);
    const before = server.stats();
    const frames = Array.from({ length: 200 }, (_, i) => malformed(rand, i)).filter((f) => f.length > 0);
    const sock = net.connect({ host: '127.0.0.1', port });
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.on('error', () => undefined);
    sock.on('data', () => undefined);
    await new Promise<void>((r) => sock.on('connect', () => r()));
    for (const f of frames) sock.write(Buffer.concat([Buffer.from([f.length >> 8, f.length & 255]), f]));
    sock.write(Buffer.from([0, 0]));
    await closed;
    await until(() => server.stats().received - before.received === frames.length + 1);
    expect(server.stats().malformed - before.malformed).to.equal(frames.length + 1);
    expect((await tcpAsk(port, query('web.weave.local'))).packet.answers).to.have.length(1);
  });
});
