// weaveDNS's DNS server (Weave's nameserver/dns.go): A and PTR answers for the names in the
// table, everything else forwarded upstream. UDP and TCP; the DNS wire codec is dns-packet.
// It never crashes on input: every malformed packet is dropped or answered FORMERR, counted in
// stats and logged at debug with the reason.

import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket, type Packet, type Question } from 'dns-packet';
import { silentLogger, type Logger } from '../common/logger.ts';
import { formatIpv4Addr, type Entry, type Ipv4Addr } from './entry.ts';
import type { UpstreamServer, UpstreamSource } from './upstream.ts';

export const DEFAULT_DOMAIN = 'weave.local.';
const MIN_UDP_SIZE = 512;
const MAX_MESSAGE = 65535;
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;
const QR = 0x8000;
const OPCODE_MASK = 0x7800;

/** The part of the name table the server reads (NameserverGossip provides it). */
export interface NameTable {
  /** Live entries with this hostname (case-insensitive). */
  lookup(hostname: string): Entry[];
  /** Live entries with this address. */
  reverseLookup(addr: Ipv4Addr): Entry[];
}

/** Which entries a client may see; undefined = all. May look the client up (the daemon asks
 *  Docker when a container queries before its start event was seen). */
export type ScopeHook = (
  clientAddress: string,
) => ((entry: Entry) => boolean) | undefined | Promise<((entry: Entry) => boolean) | undefined>;

export interface DnsServerOptions {
  table: NameTable;
  upstream: UpstreamSource;
  /** Listen address (Weave: 0.0.0.0) and port (53; 0 picks one, the same for UDP and TCP). */
  address?: string;
  port?: number;
  domain?: string;
  /** TTL of our answers, seconds (Weave's --dns-ttl, default 1). */
  ttl?: number;
  upstreamTimeoutMs?: number;
  /** A TCP client idle this long is disconnected. */
  tcpIdleTimeoutMs?: number;
  scope?: ScopeHook;
  logger?: Logger;
  /** How often the warning that sums up malformed packets may be logged (default 10 s). */
  malformedReportMs?: number;
  random?: () => number;
}

export interface DnsServerStats {
  /** Packets (UDP datagrams and TCP frames) received. */
  received: number;
  udp: number;
  tcp: number;
  /** Answered from the table (positive, empty, NXDOMAIN). */
  local: number;
  nxdomain: number;
  forwarded: number;
  /** Queries no upstream answered (SERVFAIL to the client). */
  forwardFailures: number;
  /** Malformed packets, whether dropped or answered FORMERR. */
  malformed: number;
  /** Of which answered FORMERR. */
  formerr: number;
  notimp: number;
  truncated: number;
  /** Unexpected errors in our own handling (answered SERVFAIL). */
  internalErrors: number;
}

interface Client {
  address: string;
  port: number;
  protocol: 'udp' | 'tcp';
}

const zeroStats = (): DnsServerStats => ({
  received: 0,
  udp: 0,
  tcp: 0,
  local: 0,
  nxdomain: 0,
  forwarded: 0,
  forwardFailures: 0,
  malformed: 0,
  formerr: 0,
  notimp: 0,
  truncated: 0,
  internalErrors: 0,
});

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const normalise = (name: string): string => name.toLowerCase().replace(/\.+$/, '');

function parseReverseName(lname: string): Ipv4Addr | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(lname);
  if (!m) return undefined;
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[3]! << 24) | (o[2]! << 16) | (o[1]! << 8) | o[0]!) >>> 0;
}

/** Refuses section counts the packet cannot hold (a question takes at least 5 bytes, a record
 *  11) before dns-packet sees it: dns-packet allocates arrays of the header's counts, and
 *  65535-element arrays for every junk packet cost milliseconds each. */
function checkCounts(msg: Buffer): void {
  if (msg.length < 12) return; // dns-packet refuses it
  const qd = msg.readUInt16BE(4);
  const rr = msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10);
  if (12 + 5 * qd + 11 * rr > msg.length) throw new Error(`section counts (${qd} questions, ${rr} records) exceed the ${msg.length}-byte packet`);
}

export class DnsServer {
  readonly #opts: DnsServerOptions;
  readonly #domain: string; // lower case, no trailing dot
  readonly #ttl: number;
  readonly #log: Logger;
  readonly #random: () => number;
  readonly #stats = zeroStats();
  #udp: dgram.Socket | undefined;
  #tcp: net.Server | undefined;
  readonly #conns = new Set<net.Socket>();
  #bound: { address: string; port: number } | undefined;
  readonly #malformedReport: { count: number; last: string; timer: NodeJS.Timeout | undefined } = { count: 0, last: '', timer: undefined };

  constructor(opts: DnsServerOptions) {
    this.#opts = opts;
    this.#domain = normalise(opts.domain ?? DEFAULT_DOMAIN);
    this.#ttl = opts.ttl ?? 1;
    this.#log = opts.logger ?? silentLogger();
    this.#random = opts.random ?? Math.random;
  }

  stats(): DnsServerStats {
    return { ...this.#stats };
  }

  /** The bound address and port (after start()). */
  address(): { address: string; port: number } {
    if (!this.#bound) throw new Error('DNS server not started');
    return { ...this.#bound };
  }

  async start(): Promise<void> {
    if (this.#udp) return;
    const address = this.#opts.address ?? '0.0.0.0';
    const wanted = this.#opts.port ?? 53;
    for (let attempt = 0; ; attempt++) {
      const udp = dgram.createSocket({ type: net.isIPv6(address) ? 'udp6' : 'udp4' });
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(wanted, address, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      const port = udp.address().port;
      const tcp = net.createServer((sock) => this.#onTcpConnection(sock));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, address, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        // with port 0 the UDP port may be taken for TCP: pick another
        if (wanted === 0 && attempt < 10) continue;
        throw err;
      }
      udp.on('error', (err) => this.#log.warn('DNS UDP socket error', { error: err.message }));
      udp.on('message', (msg, rinfo) => this.#onUdp(udp, msg, rinfo));
      tcp.on('error', (err) => this.#log.warn('DNS TCP server error', { error: err.message }));
      this.#udp = udp;
      this.#tcp = tcp;
      this.#bound = { address, port };
      this.#log.info('DNS server listening', { address, port, domain: this.#domain });
      return;
    }
  }

  async stop(): Promise<void> {
    this.#flushMalformed();
    const udp = this.#udp;
    const tcp = this.#tcp;
    this.#udp = undefined;
    this.#tcp = undefined;
    for (const c of this.#conns) c.destroy();
    this.#conns.clear();
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ]);
  }

  // --- transports ---

  #onUdp(sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.#stats.udp++;
    void this.#respond(msg, { address: rinfo.address, port: rinfo.port, protocol: 'udp' }).then((reply) => {
      if (reply && this.#udp === sock) sock.send(reply, rinfo.port, rinfo.address, (err) => err && this.#log.debug('DNS UDP send failed', { error: err.message }));
    });
  }

  #onTcpConnection(sock: net.Socket): void {
    this.#conns.add(sock);
    const client = { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0, protocol: 'tcp' as const };
    let pending = Buffer.alloc(0);
    sock.setTimeout(this.#opts.tcpIdleTimeoutMs ?? 10_000, () => sock.destroy());
    sock.on('error', (err) => this.#log.debug('DNS TCP client error', { client: client.address, error: err.message }));
    sock.on('close', () => this.#conns.delete(sock));
    sock.on('data', (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (len === 0) {
          this.#stats.received++;
          this.#stats.tcp++;
          this.#dropped(client, 'zero-length TCP frame; closing');
          sock.destroy();
          return;
        }
        if (pending.length < 2 + len) break;
        const frame = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        this.#stats.tcp++;
        void this.#respond(frame, client).then((reply) => {
          if (!reply || sock.destroyed) return;
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(reply.length);
          sock.write(Buffer.concat([prefix, reply]));
        });
      }
    });
  }

  // --- query handling ---

  /** Never rejects: every failure becomes a drop or an error reply. */
  async #respond(msg: Buffer, client: Client): Promise<Buffer | undefined> {
    this.#stats.received++;
    let query: DecodedPacket;
    try {
      checkCounts(msg);
      query = dnsPacket.decode(msg);
    } catch (err) {
      return this.#undecodable(msg, client, errText(err));
    }
    try {
      return await this.#answer(query, msg, client);
    } catch (err) {
      this.#stats.internalErrors++;
      this.#log.warn('DNS query handling failed', { client: client.address, error: errText(err) });
      return this.#tryEncode(this.#reply(query, RCODE.SERVFAIL, []), client);
    }
  }

  #dropped(client: Client, why: string): undefined {
    this.#stats.malformed++;
    this.#log.debug('dropping malformed DNS packet', { client: client.address, protocol: client.protocol, why });
    this.#reportMalformed(client, `dropped: ${why}`);
    return undefined;
  }

  /** Every malformed packet is logged at debug; at the default level one warning per interval
   *  says how many there were and what the last one was, so junk is seen without a log flood. */
  #reportMalformed(client: Client, what: string): void {
    const r = this.#malformedReport;
    r.count++;
    r.last = `${client.protocol} from ${client.address}: ${what}`;
    if (r.timer) return;
    r.timer = setTimeout(() => this.#flushMalformed(), this.#opts.malformedReportMs ?? 10_000);
    r.timer.unref();
  }

  #flushMalformed(): void {
    const r = this.#malformedReport;
    if (r.timer) clearTimeout(r.timer);
    r.timer = undefined;
    if (r.count === 0) return;
    this.#log.warn(`ignored ${r.count} malformed DNS packet(s); the last: ${r.last}`, { count: r.count });
    r.count = 0;
  }

  /** A packet dns-packet cannot decode: FORMERR if it has a query header, else dropped. */
  #undecodable(msg: Buffer, client: Client, why: string): Buffer | undefined {
    if (msg.length < 12) return this.#dropped(client, `too short (${msg.length} bytes)`);
    const flags = msg.readUInt16BE(2);
    if (flags & QR) return this.#dropped(client, `a response, and undecodable: ${why}`);
    this.#stats.malformed++;
    this.#stats.formerr++;
    this.#log.debug('answering FORMERR to malformed DNS query', { client: client.address, protocol: client.protocol, why });
    this.#reportMalformed(client, `FORMERR: ${why}`);
    return dnsPacket.encode({ type: 'response', id: msg.readUInt16BE(0), flags: (flags & OPCODE_MASK) | RCODE.FORMERR, questions: [] });
  }

  async #answer(query: DecodedPacket, raw: Buffer, client: Client): Promise<Buffer | undefined> {
    if (query.type === 'response') return this.#dropped(client, 'a response, not a query');
    const opcode = ((query.flags ?? 0) & OPCODE_MASK) >> 11;
    if (opcode !== 0) {
      this.#stats.notimp++;
      this.#log.debug('DNS opcode not implemented', { client: client.address, opcode });
      return this.#encode(this.#reply(query, RCODE.NOTIMP, []), query, client);
    }
    const questions = query.questions ?? [];
    const q = questions[0];
    if (questions.length !== 1 || !q) {
      this.#stats.malformed++;
      this.#stats.formerr++;
      this.#log.debug('answering FORMERR: not exactly one question', { client: client.address, questions: questions.length });
      this.#reportMalformed(client, `FORMERR: ${questions.length} questions`);
      return this.#encode(this.#reply(query, RCODE.FORMERR, []), query, client);
    }
    const local = q.class === 'IN' || q.class === undefined ? await this.#answerLocally(query, q, client) : undefined;
    return local ?? (await this.#forward(query, raw, client));
  }

  /** Our answer, or undefined when the name is not ours to answer. */
  async #answerLocally(query: DecodedPacket, q: Question, client: Client): Promise<Buffer | undefined> {
    const lname = normalise(q.name);
    const reverse = parseReverseName(lname);
    const ours = reverse !== undefined || lname === this.#domain || lname.endsWith(`.${this.#domain}`) || (lname !== '' && !lname.includes('.'));
    // only names we may answer need the client's scope (it may cost a Docker lookup)
    const visible = ours ? await this.#opts.scope?.(client.address) : undefined;
    const see = (es: Entry[]): Entry[] => (visible ? es.filter(visible) : es);

    if (reverse !== undefined) {
      if (q.type !== 'PTR') return undefined;
      const hit = see(this.#opts.table.reverseLookup(reverse))[0];
      if (!hit) return undefined; // not one of ours: upstream may know it
      this.#stats.local++;
      const answers: Answer[] = [{ type: 'PTR', name: q.name, class: 'IN', ttl: this.#ttl, data: hit.hostname.replace(/\.$/, '') }];
      return this.#encode(this.#reply(query, RCODE.NOERROR, answers, true), query, client);
    }

    let fqdn: string;
    if (lname === this.#domain || lname.endsWith(`.${this.#domain}`)) fqdn = `${lname}.`;
    else if (lname !== '' && !lname.includes('.')) fqdn = `${lname}.${this.#domain}.`;
    else return undefined;

    this.#stats.local++;
    const entries = see(this.#opts.table.lookup(fqdn));
    if (entries.length === 0) {
      this.#stats.nxdomain++;
      return this.#encode(this.#reply(query, RCODE.NXDOMAIN, [], true), query, client);
    }
    if (q.type !== 'A' && (q.type as string) !== 'ANY') return this.#encode(this.#reply(query, RCODE.NOERROR, [], true), query, client);
    const addrs = [...new Set(entries.map((e) => e.addr))];
    for (let i = addrs.length - 1; i > 0; i--) {
      const j = Math.floor(this.#random() * (i + 1));
      [addrs[i], addrs[j]] = [addrs[j]!, addrs[i]!];
    }
    const answers: Answer[] = addrs.map((a) => ({ type: 'A', name: q.name, class: 'IN', ttl: this.#ttl, data: formatIpv4Addr(a) }));
    return this.#encode(this.#reply(query, RCODE.NOERROR, answers, true), query, client);
  }

  #reply(query: DecodedPacket, rcode: number, answers: Answer[], authoritative = false, truncated = false): Packet {
    const keep = (query.flags ?? 0) & (OPCODE_MASK | dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED);
    const flags =
      keep |
      dnsPacket.RECURSION_AVAILABLE |
      (authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) |
      (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0) |
      rcode;
    const opt = this.#clientOpt(query);
    return {
      type: 'response',
      id: query.id ?? 0,
      flags,
      questions: query.questions ?? [],
      answers,
      additionals: opt ? [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
    };
  }

  #clientOpt(query: DecodedPacket): { udpPayloadSize: number } | undefined {
    const opt = (query.additionals ?? []).find((a) => a.type === 'OPT');
    return opt && 'udpPayloadSize' in opt ? { udpPayloadSize: opt.udpPayloadSize } : undefined;
  }

  #maxReply(query: DecodedPacket, client: Client): number {
    if (client.protocol === 'tcp') return MAX_MESSAGE;
    const size = this.#clientOpt(query)?.udpPayloadSize ?? MIN_UDP_SIZE;
    return Math.min(Math.max(size, MIN_UDP_SIZE), MAX_MESSAGE);
  }

  /** Encodes a reply; over the client's size it becomes an empty reply with TC set. */
  #encode(reply: Packet, query: DecodedPacket, client: Client): Buffer | undefined {
    const buf = this.#tryEncode(reply, client);
    if (!buf || buf.length <= this.#maxReply(query, client)) return buf;
    this.#stats.truncated++;
    const rcode = (reply.flags ?? 0) & 0xf;
    const aa = ((reply.flags ?? 0) & dnsPacket.AUTHORITATIVE_ANSWER) !== 0;
    return this.#tryEncode(this.#reply(query, rcode, [], aa, true), client);
  }

  #tryEncode(reply: Packet, client: Client): Buffer | undefined {
    try {
      return dnsPacket.encode(reply);
    } catch (err) {
      // e.g. a decoded question we cannot re-encode (a label dns-packet split on a dot)
      this.#stats.internalErrors++;
      this.#log.debug('cannot encode DNS reply', { client: client.address, error: errText(err) });
      return undefined;
    }
  }

  // --- forwarding ---

  async #forward(query: DecodedPacket, raw: Buffer, client: Client): Promise<Buffer | undefined> {
    let servers: UpstreamServer[] = [];
    try {
      servers = await this.#opts.upstream.servers();
    } catch (err) {
      this.#log.warn('cannot get upstream DNS servers', { error: errText(err) });
    }
    // the client's bytes as they came, under an ID of ours
    const out = Buffer.from(raw);
    out.writeUInt16BE(Math.floor(this.#random() * 0x10000) & 0xffff, 0);
    for (const server of servers) {
      try {
        const answer = client.protocol === 'tcp' ? await this.#exchangeTcp(server, out) : await this.#exchangeUdp(server, out);
        checkCounts(answer);
        const resp = dnsPacket.decode(answer);
        if (resp.type !== 'response' || resp.id !== out.readUInt16BE(0)) throw new Error('reply does not match the query');
        this.#stats.forwarded++;
        const reply = Buffer.from(answer);
        reply.writeUInt16BE(query.id ?? 0, 0);
        if (reply.length <= this.#maxReply(query, client)) return reply;
        this.#stats.truncated++;
        return this.#tryEncode(this.#reply(query, (resp.flags ?? 0) & 0xf, [], false, true), client);
      } catch (err) {
        this.#log.debug('upstream DNS server failed', { server: `${server.address}:${server.port}`, name: query.questions?.[0]?.name, error: errText(err) });
      }
    }
    this.#stats.forwardFailures++;
    return this.#encode(this.#reply(query, RCODE.SERVFAIL, []), query, client);
  }

  #exchangeUdp(server: UpstreamServer, msg: Buffer): Promise<Buffer> {
    return exchange(this.#opts.upstreamTimeoutMs ?? 5000, (done) => {
      const sock = dgram.createSocket(net.isIPv6(server.address) ? 'udp6' : 'udp4');
      sock.on('error', (err) => done(err));
      sock.on('message', (reply, rinfo) => {
        // only the server's reply to this query (same id) counts
        if (rinfo.port !== server.port || reply.length < 12 || reply.readUInt16BE(0) !== msg.readUInt16BE(0)) return;
        done(undefined, reply);
      });
      sock.send(msg, server.port, server.address, (err) => err && done(err));
      return () => sock.close();
    });
  }

  #exchangeTcp(server: UpstreamServer, msg: Buffer): Promise<Buffer> {
    return exchange(this.#opts.upstreamTimeoutMs ?? 5000, (done) => {
      const sock = net.connect({ host: server.address, port: server.port });
      let got = Buffer.alloc(0);
      sock.on('error', (err) => done(err));
      sock.on('close', () => done(new Error('upstream closed the connection')));
      sock.on('connect', () => {
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(msg.length);
        sock.write(Buffer.concat([prefix, msg]));
      });
      sock.on('data', (chunk) => {
        got = Buffer.concat([got, chunk]);
        if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) done(undefined, got.subarray(2, 2 + got.readUInt16BE(0)));
      });
      return () => sock.destroy();
    });
  }
}

/** One upstream exchange: `start` sends and reports through `done`, returning how to close its
 *  socket. Settled once, by the reply, the first error or the timeout; the socket is closed then,
 *  so a late error or reply finds nothing to settle. */
function exchange(timeoutMs: number, start: (done: (err: Error | undefined, reply?: Buffer) => void) => () => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const state: { settled: boolean; close?: () => void } = { settled: false };
    const done = (err: Error | undefined, reply?: Buffer): void => {
      if (state.settled) return;
      state.settled = true;
      clearTimeout(timer);
      state.close?.();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => done(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    state.close = start(done);
    if (state.settled) state.close(); // settled before start() returned its closer
  });
}
