// DnsService (the host's weaveDNS: table + server + registration API), the registrar that keeps it
// in step with containers, and the /name HTTP API, over real sockets on 127.0.0.1.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import express from 'express';
import { silentLogger } from '../../../common/logger.ts';
import { mountDnsApi } from '../../../daemon/dns-api.ts';
import { DnsRegistrar, type ContainerDirectory, type ContainerView } from '../../../daemon/dns-registrar.ts';
import { DnsService } from '../../../dns/dns-service.ts';
import { query, udpAsk } from './dns-test-helpers.ts';

const US = 'aa:00:00:00:00:01';

describe('DnsService, DnsRegistrar and the /name API', () => {
  let dir: string;
  let dns: DnsService;
  let registrar: DnsRegistrar;
  const containers = new Map<string, ContainerView>();
  const directory: ContainerDirectory = {
    byIp: (ip) => [...containers.values()].find((c) => c.weave.some((a) => a.ipv4 === ip) || (c as ContainerView & { gw?: string }).gw === ip),
    refreshIp: () => Promise.resolve(undefined),
  };

  const db: ContainerView & { gw: string } = { id: 'c-db', name: 'db', hostname: 'dbhost', gw: '172.18.0.2', weave: [{ networkName: 'app', ipv4: '10.44.0.2', aliases: ['database'], subnets: ['10.44.0.0/24'] }] };
  const other: ContainerView & { gw: string } = { id: 'c-other', name: 'other', hostname: 'other', gw: '172.18.0.3', weave: [{ networkName: 'other', ipv4: '10.45.0.2', aliases: [], subnets: ['10.45.0.0/24'] }] };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dns-service-'));
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    containers.clear();
    dns = new DnsService({
      domain: 'weave.local.',
      address: '127.0.0.1',
      port: 0,
      ttl: 1,
      resolvConf: join(dir, 'resolv.conf'),
      localName: US,
      scope: (ip) => registrar.scope(ip),
      logger: silentLogger(),
    });
    registrar = new DnsRegistrar({ dns: () => dns, containers: directory, ownAddress: '169.254.53.53', logger: silentLogger() });
    await dns.start();
  });
  afterEach(async () => {
    await dns.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('qualifies names into the domain and refuses what is not a host name', () => {
    expect(dns.qualify('db')).to.equal('db.weave.local.');
    expect(dns.qualify('DB.weave.local')).to.equal('db.weave.local.');
    expect(dns.qualify('db.weave.local.')).to.equal('db.weave.local.');
    expect(dns.qualify('db.example.com')).to.equal('db.example.com.weave.local.');
    for (const bad of ['', 'a b', '-x', 'x..y', 'weave.local', 'a'.repeat(64)]) expect(() => dns.qualify(bad), bad).to.throw();
  });

  it('registers a container under its name, hostname and aliases, and diffs on change', () => {
    containers.set(db.id, db);
    registrar.upsert(db);
    registrar.upsert(db); // idempotent
    const names = dns.entriesOf(db.id).map((e) => e.hostname).sort();
    expect(names).to.deep.equal(['database.weave.local.', 'db.weave.local.', 'dbhost.weave.local.']);
    expect(dns.lookup('database')).to.deep.equal(['10.44.0.2']);

    // alias dropped, new address: the old entries are tombstoned, the new ones added
    const moved: ContainerView = { ...db, weave: [{ ...db.weave[0]!, ipv4: '10.44.0.9', aliases: [] }] };
    registrar.upsert(moved);
    expect(dns.lookup('db')).to.deep.equal(['10.44.0.9']);
    expect(dns.lookup('database')).to.deep.equal([]);

    registrar.remove(db.id);
    expect(dns.lookup('db')).to.deep.equal([]);
    expect(dns.entriesOf(db.id)).to.deep.equal([]);
  });

  it('a container sees only names on its own networks; the host sees all', async () => {
    containers.set(db.id, db);
    containers.set(other.id, other);
    registrar.upsert(db);
    registrar.upsert(other);
    expect(await visible('172.18.0.2', 'db')).to.deep.equal(['10.44.0.2']); // db itself, from its gwbridge address
    expect(await visible('172.18.0.3', 'db')).to.deep.equal([]); // on network other
    expect(await visible('172.18.0.99', 'db')).to.deep.equal([]); // not a container we know
    expect(await visible('127.0.0.1', 'db')).to.deep.equal(['10.44.0.2']);
    expect(await visible('169.254.53.53', 'other')).to.deep.equal(['10.45.0.2']);
  });

  it('asks a DNS query through the real server: scoped answer with AA set', async () => {
    containers.set(db.id, db);
    registrar.upsert(db);
    const { packet } = await udpAsk((dns.status() as { port: number }).port, query('db.weave.local'));
    expect(packet.rcode).to.equal('NOERROR');
    expect(packet.answers.map((a) => a.data)).to.deep.equal(['10.44.0.2']);
    expect(packet.flag_aa).to.equal(true);
  });

  it('the /name API adds, looks up and removes names, and refuses bad input with 400', async () => {
    const app = express();
    mountDnsApi(app, { dns, logger: silentLogger() });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect((await fetch(`${base}/name/weave:extern/10.44.0.50?fqdn=printer`, { method: 'PUT' })).status).to.equal(204);
      expect(await (await fetch(`${base}/dns/lookup/printer.weave.local`)).text()).to.equal('10.44.0.50\n');
      expect((await fetch(`${base}/dns/lookup/nothing`)).status).to.equal(404);
      for (const bad of ['/name/weave:extern/10.44.0.500?fqdn=x', '/name/weave:extern/10.44.0.5', '/name/weave:extern/10.44.0.5?fqdn=a%20b', '/name/%2Fetc/10.44.0.5?fqdn=x']) {
        const r = await fetch(`${base}${bad}`, { method: 'PUT' });
        expect(r.status, bad).to.equal(400);
      }
      const del = await fetch(`${base}/name/*/10.44.0.50`, { method: 'DELETE' });
      expect(del.status).to.equal(200);
      expect(await del.text()).to.contain('printer.weave.local.');
      expect(dns.lookup('printer')).to.deep.equal([]);
      expect(await (await fetch(`${base}/domain`)).text()).to.equal('weave.local.\n');
    } finally {
      server.close();
    }
  });

  async function visible(clientIp: string, name: string): Promise<string[]> {
    const filter = await registrar.scope(clientIp);
    return dns
      .lookup(name)
      .filter((ip) => !filter || filter({ hostname: '', origin: US, containerId: '', addr: ipNum(ip), version: 0, tombstone: 0 }));
  }
});

function ipNum(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}
