// The weaveDNS table: identity, ordering, add/tombstone, Weave's merge rules, lookups, purges.
import { expect } from 'chai';
import { Entries, TOMBSTONE_TIMEOUT_S } from '../../../dns/entries.ts';
import { compareCaseSensitive, formatIpv4Addr, parseIpv4Addr, type Entry } from '../../../dns/entry.ts';

const US = '0a:00:00:00:00:01';
const PEER = 'ce:31:e0:06:45:1a';
const ip = parseIpv4Addr;
const entry = (over: Partial<Entry>): Entry => ({
  hostname: 'web.weave.local.',
  origin: PEER,
  containerId: 'c1',
  addr: ip('10.32.0.1'),
  version: 0,
  tombstone: 0,
  ...over,
});

describe('dns/entries', () => {
  it('parses and formats IPv4 addresses as uint32', () => {
    expect(ip('10.32.0.1')).to.equal(0x0a200001);
    expect(ip('255.255.255.255')).to.equal(0xffffffff);
    expect(formatIpv4Addr(0xc0a80101)).to.equal('192.168.1.1');
    expect(() => ip('1.2.3.256')).to.throw(/invalid IPv4 address/);
    expect(() => ip('1.2.3')).to.throw(/invalid IPv4 address/);
  });

  it('adds once per identity, looks names up case-insensitively, keeps the case given', () => {
    const t = new Entries();
    t.add('Web.weave.local.', 'c1', US, ip('10.32.0.1'));
    t.add('Web.weave.local.', 'c1', US, ip('10.32.0.1'));
    t.add('web.weave.local.', 'c2', US, ip('10.32.0.2'));
    t.add('db.weave.local.', 'c3', US, ip('10.32.0.3'));
    expect(t.size).to.equal(3);
    const found = t.lookup('WEB.Weave.Local.');
    expect(found.map((e) => e.hostname).sort()).to.deep.equal(['Web.weave.local.', 'web.weave.local.']);
    expect(t.lookup('nothere.weave.local.')).to.deep.equal([]);
    expect(t.lookup('db.weave.local.')).to.have.length(1);
  });

  it('keeps the table sorted by lower-cased hostname, origin, container, address', () => {
    const t = new Entries([
      entry({ hostname: 'b' }),
      entry({ hostname: 'A', addr: 2 }),
      entry({ hostname: 'a', addr: 1 }),
      entry({ hostname: 'a', origin: US, addr: 9 }),
    ]);
    expect(t.all().map((e) => `${e.hostname}/${e.origin === US ? 'us' : 'peer'}/${e.addr}`)).to.deep.equal([
      'a/us/9',
      'a/peer/1',
      'A/peer/2',
      'b/peer/169869313',
    ]);
    // the gossip order is case-sensitive: upper case first
    expect(t.all().sort(compareCaseSensitive).map((e) => e.hostname)).to.deep.equal(['A', 'a', 'a', 'b']);
  });

  it('tombstones only our own live entries: by container, by container and address, by name', () => {
    const t = new Entries([entry({ containerId: 'theirs' })]);
    t.add('a.weave.local.', 'c1', US, ip('10.0.0.1'));
    t.add('a.weave.local.', 'c1', US, ip('10.0.0.2'));
    t.add('b.weave.local.', 'c2', US, ip('10.0.0.3'));
    t.add('c.weave.local.', 'c3', US, ip('10.0.0.4'));
    expect(t.tombstoneContainer(US, 'theirs', 100)).to.deep.equal([]);
    const byAddr = t.tombstoneContainerAddr(US, 'c1', ip('10.0.0.2'), 100);
    expect(byAddr).to.deep.equal([{ hostname: 'a.weave.local.', origin: US, containerId: 'c1', addr: ip('10.0.0.2'), version: 1, tombstone: 100 }]);
    expect(t.lookup('a.weave.local.').map((e) => formatIpv4Addr(e.addr))).to.deep.equal(['10.0.0.1']);
    expect(t.tombstoneContainer(US, 'c1', 101)).to.have.length(1); // the live one only
    expect(t.tombstoneName(US, 'B.WEAVE.LOCAL.', 102)).to.have.length(1);
    expect(t.lookup('b.weave.local.')).to.deep.equal([]);
    expect(t.tombstone(US, {}, 103).map((e) => e.hostname)).to.deep.equal(['c.weave.local.']);
    expect(t.size).to.equal(5);
  });

  it('revives a tombstoned entry with Version+1 when it is added again', () => {
    const t = new Entries();
    t.add('a', 'c1', US, 1);
    t.tombstoneContainer(US, 'c1', 50);
    const back = t.add('a', 'c1', US, 1);
    expect(back.version).to.equal(2);
    expect(back.tombstone).to.equal(0);
    expect(t.lookup('a')).to.have.length(1);
  });

  it('merges with Weave rules: higher Version wins, equal Version takes the later Tombstone', () => {
    const t = new Entries([entry({ version: 2 })]);
    expect(t.merge([entry({ version: 1, tombstone: 500 })]).changed).to.deep.equal([]);
    expect(t.lookup('web.weave.local.')).to.have.length(1);
    expect(t.merge([entry({ version: 3, tombstone: 600 })]).changed).to.deep.equal([entry({ version: 3, tombstone: 600 })]);
    expect(t.lookup('web.weave.local.')).to.deep.equal([]);
    expect(t.merge([entry({ version: 3, tombstone: 599 })]).changed).to.deep.equal([]);
    expect(t.merge([entry({ version: 3, tombstone: 700 })]).changed).to.have.length(1);
    expect(t.find(entry({}))?.tombstone).to.equal(700);
    expect(t.merge([entry({ version: 4 })]).changed).to.have.length(1);
    expect(t.lookup('web.weave.local.')).to.have.length(1);
    // a new identity is added as it comes, tombstone or not
    const r = t.merge([entry({ containerId: 'c9', version: 5, tombstone: 9 }), entry({ hostname: 'x' })]);
    expect(r.changed).to.have.length(2);
    expect(t.size).to.equal(3);
  });

  it('merging is order-independent (two tables converge)', () => {
    const updates = [
      entry({ version: 1 }),
      entry({ version: 2, tombstone: 10 }),
      entry({ version: 2, tombstone: 12 }),
      entry({ containerId: 'c2', version: 0 }),
      entry({ containerId: 'c2', version: 1, tombstone: 3 }),
    ];
    const a = new Entries();
    const b = new Entries();
    for (const u of updates) a.merge([u]);
    for (const u of [...updates].reverse()) b.merge([u]);
    expect(a.all()).to.deep.equal(b.all());
  });

  it('overrides entries claiming to be ours that differ from our data, with version+1', () => {
    const t = new Entries();
    t.add('a', 'c1', US, 1); // version 0, live
    // a peer says our entry was deleted at version 4: not true, ours wins at version 5
    const r = t.merge([entry({ hostname: 'a', origin: US, containerId: 'c1', addr: 1, version: 4, tombstone: 77 })], { ourName: US, now: 1000 });
    expect(r.changed).to.deep.equal([]);
    expect(r.corrected).to.deep.equal([{ hostname: 'a', origin: US, containerId: 'c1', addr: 1, version: 5, tombstone: 0 }]);
    expect(t.lookup('a')).to.have.length(1);
    // an older copy of ours changes nothing
    expect(t.merge([entry({ hostname: 'a', origin: US, containerId: 'c1', addr: 1, version: 1 })], { ourName: US, now: 1000 })).to.deep.equal({
      changed: [],
      corrected: [],
    });
    // a live entry of ours we do not know (an earlier run): tombstoned, version+1
    const stale = t.merge([entry({ hostname: 'old', origin: US, containerId: 'gone', version: 3 })], { ourName: US, now: 1000 });
    expect(stale.corrected).to.deep.equal([entry({ hostname: 'old', origin: US, containerId: 'gone', version: 4, tombstone: 1000 })]);
    expect(t.lookup('old')).to.deep.equal([]);
  });

  it('reverse lookup returns live entries holding the address', () => {
    const t = new Entries([entry({ hostname: 'b', addr: 7 }), entry({ hostname: 'a', addr: 7, tombstone: 5, version: 1 }), entry({ hostname: 'c', addr: 8 })]);
    expect(t.reverseLookup(7).map((e) => e.hostname)).to.deep.equal(['b']);
    expect(t.reverseLookup(9)).to.deep.equal([]);
  });

  it('purges tombstones older than 30 minutes and drops the entries of departed peers', () => {
    const now = 10_000;
    const t = new Entries([
      entry({ hostname: 'old', tombstone: now - TOMBSTONE_TIMEOUT_S - 1, version: 1 }),
      entry({ hostname: 'recent', tombstone: now - TOMBSTONE_TIMEOUT_S, version: 1 }),
      entry({ hostname: 'live' }),
      entry({ hostname: 'mine', origin: US }),
    ]);
    expect(t.purgeTombstones(now)).to.equal(1);
    expect(t.all().map((e) => e.hostname)).to.deep.equal(['live', 'mine', 'recent']);
    expect(t.dropPeer(PEER)).to.equal(2);
    expect(t.all().map((e) => e.hostname)).to.deep.equal(['mine']);
  });
});
