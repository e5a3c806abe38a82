// The weaveDNS server end to end over real UDP and TCP sockets on 127.0.0.1, with a fake
// upstream on 127.0.0.1 (nothing leaves the machine).
import { expect } from 'chai';
import { DnsServer } from '../../../dns/dns-server.ts';
import { Entries } from '../../../dns/entries.ts';
import { parseIpv4Addr as ip } from '../../../dns/entry.ts';
import { StaticUpstream } from '../../../dns/upstream.ts';
import { deadUpstream, FakeUpstream, query, tcpAsk, udpAsk } from './dns-test-helpers.ts';

const US = '0a:00:00:00:00:01';

describe('dns/dns server', function () {
  this.timeout(15000);
  let upstream: FakeUpstream;
  let dead: { port: number; close: () => void };
  let table: Entries;
  let server: DnsServer;
  let port: number;

  const startServer = async (opts: Partial<ConstructorParameters<typeof DnsServer>[0]> = {}): Promise<void> => {
    server = new DnsServer({
      table,
      upstream: new StaticUpstream([{ address: '127.0.0.1', port: upstream.port }]),
      address: '127.0.0.1',
      port: 0,
      upstreamTimeoutMs: 300,
      ...opts,
    });
    await server.start();
    port = server.address().port;
  };

  beforeEach(async () => {
    upstream = await new FakeUpstream().start();
    dead = await deadUpstream();
    table = new Entries();
    table.add('web.weave.local.', 'c1', US, ip('10.32.0.1'));
    table.add('web.weave.local.', 'c2', US, ip('10.32.0.2'));
    table.add('web.weave.local.', 'c3', US, ip('10.32.0.3'));
    table.add('db.weave.local.', 'c4', US, ip('10.32.0.4'));
    table.add('gone.weave.local.', 'c5', US, ip('10.32.0.5'));
    table.tombstoneContainer(US, 'c5', 1);
    await startServer();
  });

  afterEach(async () => {
    await server.stop();
    await upstream.stop();
    dead.close();
  });

  it('answers A for names in the domain from the table, case-insensitively, TTL 1, shuffled', async () => {
    const orders = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { packet } = await udpAsk(port, query('WEB.Weave.Local', 'A', { id: i }));
      expect(packet.id).to.equal(i);
      expect(packet.rcode).to.equal('NOERROR');
      expect(packet.flag_aa).to.equal(true);
      expect(packet.answers!.map((a) => a.ttl)).to.deep.equal([1, 1, 1]);
      expect(packet.answers!.map((a) => a.name)).to.deep.equal(['WEB.Weave.Local', 'WEB.Weave.Local', 'WEB.Weave.Local']);
      const data = packet.answers!.map((a) => a.data as string);
      expect([...data].sort()).to.deep.equal(['10.32.0.1', '10.32.0.2', '10.32.0.3']);
      orders.add(data.join(','));
    }
    expect(orders.size).to.be.greaterThan(1);
    expect(upstream.seen).to.deep.equal([]);
  });

  it('appends the domain to single-label names, and answers over TCP too', async () => {
    expect((await udpAsk(port, query('db'))).packet.answers!.map((a) => a.data)).to.deep.equal(['10.32.0.4']);
    expect((await tcpAsk(port, query('db.weave.local'))).packet.answers!.map((a) => a.data)).to.deep.equal(['10.32.0.4']);
  });

  it('known name with another type: NOERROR and no answer; unknown or deleted name: NXDOMAIN', async () => {
    const aaaa = (await udpAsk(port, query('db.weave.local', 'AAAA'))).packet;
    expect(aaaa.rcode).to.equal('NOERROR');
    expect(aaaa.answers).to.deep.equal([]);
    expect((await udpAsk(port, query('nothere.weave.local'))).packet.rcode).to.equal('NXDOMAIN');
    expect((await udpAsk(port, query('gone.weave.local'))).packet.rcode).to.equal('NXDOMAIN');
    expect((await udpAsk(port, query('nothere'))).packet.rcode).to.equal('NXDOMAIN');
    expect(upstream.seen).to.deep.equal([]);
  });

  it('answers PTR for our addresses and forwards other reverse names', async () => {
    const ours = (await udpAsk(port, query('4.0.32.10.in-addr.arpa', 'PTR'))).packet;
    expect(ours.answers!.map((a) => a.data)).to.deep.equal(['db.weave.local']);
    const theirs = (await udpAsk(port, query('9.9.9.10.in-addr.arpa', 'PTR'))).packet;
    expect(theirs.answers!.map((a) => a.data)).to.deep.equal(['other.example']);
    expect(upstream.seen).to.deep.equal([{ name: '9.9.9.10.in-addr.arpa', protocol: 'udp' }]);
  });

  it('forwards other names upstream over UDP for UDP clients and TCP for TCP clients', async () => {
    const u = await udpAsk(port, query('example.com', 'A', { id: 7 }));
    expect(u.packet.id).to.equal(7);
    expect(u.packet.answers!.map((a) => a.data)).to.deep.equal(['192.0.2.1']);
    const t = await tcpAsk(port, query('example.com', 'A', { id: 8 }));
    expect(t.packet.id).to.equal(8);
    expect(t.packet.answers!.map((a) => a.data)).to.deep.equal(['192.0.2.1']);
    expect((await udpAsk(port, query('nope.example.com'))).packet.rcode).to.equal('NXDOMAIN');
    expect(upstream.seen.map((s) => s.protocol)).to.deep.equal(['udp', 'tcp', 'udp']);
    expect(server.stats().forwarded).to.equal(3);
  });

  it('falls back to the next upstream after a timeout; SERVFAIL when none answers', async () => {
    await server.stop();
    await startServer({
      upstream: new StaticUpstream([
        { address: '127.0.0.1', port: dead.port },
        { address: '127.0.0.1', port: upstream.port },
      ]),
    });
    expect((await udpAsk(port, query('example.com'))).packet.answers!.map((a) => a.data)).to.deep.equal(['192.0.2.1']);
    await server.stop();
    await startServer({ upstream: new StaticUpstream([{ address: '127.0.0.1', port: dead.port }]) });
    expect((await udpAsk(port, query('example.com'))).packet.rcode).to.equal('SERVFAIL');
    expect(server.stats().forwardFailures).to.equal(1);
    await server.stop();
    await startServer({ upstream: new StaticUpstream([]) });
    expect((await udpAsk(port, query('example.com'))).packet.rcode).to.equal('SERVFAIL');
  });

  it('truncates UDP answers over 512 bytes (or the client’s EDNS size) with TC', async () => {
    for (let i = 10; i < 60; i++) table.add('many.weave.local.', `m${i}`, US, ip(`10.40.0.${i}`));
    const small = await udpAsk(port, query('many.weave.local'));
    expect(small.packet.flag_tc).to.equal(true);
    expect(small.packet.answers).to.deep.equal([]);
    expect(small.raw.length).to.be.at.most(512);
    const edns = await udpAsk(port, query('many.weave.local', 'A', { edns: 4096 }));
    expect(edns.packet.flag_tc).to.equal(false);
    expect(edns.packet.answers).to.have.length(50);
    const tcp = await tcpAsk(port, query('many.weave.local'));
    expect(tcp.packet.answers).to.have.length(50);
    // forwarded answers too
    const big = await udpAsk(port, query('big.example.com', 'TXT'));
    expect(big.packet.flag_tc).to.equal(true);
    expect(big.raw.length).to.be.at.most(512);
    expect((await tcpAsk(port, query('big.example.com', 'TXT'))).packet.answers).to.have.length(30);
    expect(server.stats().truncated).to.equal(2);
  });

  it('lets the scope hook restrict which entries a client sees', async () => {
    await server.stop();
    const asked: string[] = [];
    await startServer({
      scope: (client) => {
        asked.push(client);
        return (e) => e.containerId !== 'c4';
      },
    });
    expect((await udpAsk(port, query('db.weave.local'))).packet.rcode).to.equal('NXDOMAIN');
    expect((await udpAsk(port, query('web.weave.local'))).packet.answers).to.have.length(3);
    expect((await udpAsk(port, query('4.0.32.10.in-addr.arpa', 'PTR'))).packet.answers).to.deep.equal([]);
    expect(asked[0]).to.equal('127.0.0.1');
  });

  it('answers FORMERR to queries without exactly one question and NOTIMP to other opcodes', async () => {
    const none = (await udpAsk(port, Buffer.from('abcd01000000000000000000', 'hex'))).packet;
    expect(none.id).to.equal(0xabcd);
    expect(none.rcode).to.equal('FORMERR');
    const update = (await udpAsk(port, Buffer.from('abcd28000000000000000000', 'hex'))).packet; // opcode 5
    expect(update.rcode).to.equal('NOTIMP');
    expect(server.stats()).to.include({ formerr: 1, notimp: 1, malformed: 1 });
  });
});
