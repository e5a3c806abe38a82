// Small DNS clients and a fake upstream DNS server for the DNS server tests. Everything binds
// and talks to 127.0.0.1 only.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type Packet, type Question } from 'dns-packet';

/** What the tests read of a decoded reply (dns-packet decodes these fields; its types omit some). */
export interface Reply {
  id: number;
  rcode: string;
  flag_aa: boolean;
  flag_tc: boolean;
  answers: { name: string; ttl?: number; data?: unknown }[];
}
const decodeReply = (raw: Buffer): Reply => dnsPacket.decode(raw) as unknown as Reply;

export function query(name: string, type: Question['type'] = 'A', opts: { id?: number; edns?: number } = {}): Buffer {
  const p: Packet = { type: 'query', id: opts.id ?? 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] };
  if (opts.edns) p.additionals = [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }];
  return dnsPacket.encode(p);
}

export function udpAsk(port: number, msg: Buffer, timeoutMs = 3000): Promise<{ raw: Buffer; packet: Reply }> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error('no UDP answer'));
    }, timeoutMs);
    sock.on('message', (raw) => {
      clearTimeout(timer);
      sock.close();
      resolve({ raw, packet: decodeReply(raw) });
    });
    sock.send(msg, port, '127.0.0.1');
  });
}

export function tcpAsk(port: number, msg: Buffer, timeoutMs = 3000): Promise<{ raw: Buffer; packet: Reply }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no TCP answer'));
    }, timeoutMs);
    sock.on('error', reject);
    sock.on('connect', () => sock.write(Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 255]), msg])));
    sock.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        clearTimeout(timer);
        sock.destroy();
        const raw = got.subarray(2, 2 + got.readUInt16BE(0));
        resolve({ raw, packet: decodeReply(raw) });
      }
    });
  });
}

/** A fake upstream on 127.0.0.1 (UDP and TCP on one port). */
export class FakeUpstream {
  readonly seen: { name: string; protocol: 'udp' | 'tcp' }[] = [];
  #udp = dgram.createSocket('udp4');
  #tcp = net.createServer((s) => this.#onTcp(s));
  port = 0;

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#udp.bind(0, '127.0.0.1', () => r()));
    this.port = this.#udp.address().port;
    await new Promise<void>((r) => this.#tcp.listen(this.port, '127.0.0.1', () => r()));
    this.#udp.on('message', (msg, rinfo) => {
      const reply = this.#answer(msg, 'udp');
      if (reply) this.#udp.send(reply, rinfo.port, rinfo.address);
    });
    return this;
  }

  async stop(): Promise<void> {
    await Promise.all([new Promise<void>((r) => this.#udp.close(() => r())), new Promise<void>((r) => this.#tcp.close(() => r()))]);
  }

  #onTcp(sock: net.Socket): void {
    let got = Buffer.alloc(0);
    sock.on('error', () => undefined);
    sock.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      while (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        const reply = this.#answer(got.subarray(2, 2 + got.readUInt16BE(0)), 'tcp');
        got = got.subarray(2 + got.readUInt16BE(0));
        if (reply) sock.write(Buffer.concat([Buffer.from([reply.length >> 8, reply.length & 255]), reply]));
      }
    });
  }

  #answer(msg: Buffer, protocol: 'udp' | 'tcp'): Buffer | undefined {
    let q: DecodedPacket;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return undefined;
    }
    const question = q.questions?.[0];
    if (!question) return undefined;
    this.seen.push({ name: question.name, protocol });
    let answers: Answer[] = [];
    let rcode = 0;
    if (question.name === 'example.com' && question.type === 'A') answers = [{ type: 'A', name: question.name, ttl: 60, data: '192.0.2.1' }];
    else if (question.name === 'big.example.com')
      answers = Array.from({ length: 30 }, (_, i) => ({ type: 'TXT', name: question.name, ttl: 60, data: `record ${i} ${'x'.repeat(40)}` }));
    else if (question.name === '9.9.9.10.in-addr.arpa') answers = [{ type: 'PTR', name: question.name, ttl: 60, data: 'other.example' }];
    else rcode = 3;
    return dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags: dnsPacket.RECURSION_AVAILABLE | rcode, questions: q.questions ?? [], answers });
  }
}

/** A UDP socket on 127.0.0.1 that never answers. */
export async function deadUpstream(): Promise<{ port: number; close: () => void }> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  sock.on('message', () => undefined);
  return { port: sock.address().port, close: () => sock.close() };
}
