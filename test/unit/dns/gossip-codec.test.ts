// The `nameserver` channel payload against bytes from Go's encoding/gob of Weave's
// nameserver.GossipData (fixtures/gen/main.go mirrors Weave's structs).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { decodeNameserverGossip, encodeNameserverGossip, NameserverGossipError, type NameserverGossipPayload } from '../../../dns/gossip-codec.ts';

// `cd fixtures/gen && GO111MODULE=off go run main.go two|empty` (Go 1.19)
const GO: Record<string, string> = {
  two:
    '33ff810301010a476f737369704461746101ff82000102010954696d657374616d700104000107456e747269657301ff8600000016ff8502010107456e747269657301ff860001ff8400005eff8303010105456e74727901ff84000106010b436f6e7461696e65724944010c0001064f726967696e0106000104416464720106000108486f73746e616d65010c00010756657273696f6e0104000109546f6d6273746f6e65010400000064ff8201fcd25229c00102010663306666656501face31e006451a01fc0a200002010f44422e77656176652e6c6f63616c2e00010661626331323301fa0a000000000101fc0a20000101107765622e77656176652e6c6f63616c2e010601fcd25221f00000',
  empty:
    '33ff810301010a476f737369704461746101ff82000102010954696d657374616d700104000107456e747269657301ff8600000016ff8502010107456e747269657301ff860001ff8400005eff8303010105456e74727901ff84000106010b436f6e7461696e65724944010c0001064f726967696e0106000104416464720106000108486f73746e616d65010c00010756657273696f6e0104000109546f6d6273746f6e65010400000009ff8201fcd25229c200',
};
const A = '0a:00:00:00:00:01';
const B = 'ce:31:e0:06:45:1a';

const two: NameserverGossipPayload = {
  timestamp: 1764300000,
  entries: [
    { containerId: 'c0ffee', origin: B, addr: 0x0a200002, hostname: 'DB.weave.local.', version: 0, tombstone: 0 },
    { containerId: 'abc123', origin: A, addr: 0x0a200001, hostname: 'web.weave.local.', version: 3, tombstone: 1764299000 },
  ],
};
const empty: NameserverGossipPayload = { timestamp: 1764300001, entries: [] };

describe('dns/gossip codec vs Go gob', () => {
  it('decodes what Go encodes', () => {
    expect(decodeNameserverGossip(Buffer.from(GO['two']!, 'hex'))).to.deep.equal(two);
    expect(decodeNameserverGossip(Buffer.from(GO['empty']!, 'hex'))).to.deep.equal(empty);
  });

  it('encodes byte for byte as Go does, sorting entries case-sensitively like Weave', () => {
    expect(encodeNameserverGossip(two).toString('hex')).to.equal(GO['two']);
    expect(encodeNameserverGossip({ ...two, entries: [...two.entries].reverse() }).toString('hex')).to.equal(GO['two']);
    expect(encodeNameserverGossip(empty).toString('hex')).to.equal(GO['empty']);
  });

  it('round-trips a larger table', () => {
    const entries = Array.from({ length: 500 }, (_, i) => ({
      containerId: `c${i}`,
      origin: i % 2 ? A : B,
      addr: 0x0a200000 + i,
      hostname: `Host-${i % 37}.weave.local.`,
      version: i % 5,
      tombstone: i % 3 ? 0 : 1764290000 + i,
    }));
    const back = decodeNameserverGossip(encodeNameserverGossip({ timestamp: 1764300000, entries }));
    expect(back.entries).to.have.length(500);
    expect(back.entries).to.have.deep.members(entries);
  });

  it('matches a fresh run of the Go generator when Go is installed', function () {
    if (spawnSync('go', ['version']).status !== 0) this.skip();
    this.timeout(60000);
    const dir = fileURLToPath(new URL('./fixtures/gen/', import.meta.url));
    for (const which of Object.keys(GO)) {
      const r = spawnSync('go', ['run', 'main.go', which], { cwd: dir, encoding: 'utf8', env: { ...process.env, GO111MODULE: 'off' } });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout.trim()).to.equal(GO[which]);
    }
  });

  describe('refuses malformed payloads with a NameserverGossipError', () => {
    const refuse = (buf: Uint8Array, why?: RegExp): void => {
      let caught: unknown;
      try {
        decodeNameserverGossip(buf);
      } catch (err) {
        caught = err;
      }
      expect(caught, `accepted ${Buffer.from(buf).toString('hex')}`).to.be.instanceOf(NameserverGossipError);
      if (why) expect((caught as Error).message).to.match(why);
    };

    it('empty, trailing bytes, every truncation of a valid payload', () => {
      const good = Buffer.from(GO['two']!, 'hex');
      refuse(Buffer.alloc(0), /empty/);
      refuse(Buffer.concat([good, Buffer.from([1, 2, 3])]), /trailing/);
      for (let n = 1; n < good.length; n++) refuse(good.subarray(0, n));
    });

    it('wrong types: a gob of another struct, an int where a string belongs', () => {
      // `go run main.go other`: gob of struct{ Foo int }{7}, no field in common
      refuse(Buffer.from('14ff81030102ff820001010103466f6f010400000005ff82010e00', 'hex'), /malformed/);
      const good = Buffer.from(GO['two']!, 'hex');
      const hostnameKind = good.indexOf(Buffer.from('486f73746e616d65010c', 'hex')) + 9;
      const bad = Buffer.from(good);
      bad[hostnameKind] = 0x04; // Hostname declared as int
      refuse(bad);
    });

    it('out-of-range values: a 64-bit Origin, a negative Tombstone', () => {
      const e = two.entries[0]!;
      const over = encodeNameserverGossip({ timestamp: 1, entries: [e] });
      // replace the 48-bit origin (fa ce31e006451a) with a 56-bit one (f9 01ce31e006451a)
      const at = over.indexOf(Buffer.from('face31e006451a', 'hex'));
      const patched = Buffer.concat([over.subarray(0, at), Buffer.from('f901ce31e006451a', 'hex'), over.subarray(at + 7)]);
      patched[patched.indexOf(Buffer.from('ff82', 'hex'), 60) - 1]! += 1; // message length +1
      refuse(patched, /peer name|Origin/);
      refuse(encodeNameserverGossip({ timestamp: 1, entries: [{ ...e, tombstone: -5 }] }), /Tombstone/);
      refuse(encodeNameserverGossip({ timestamp: -1, entries: [] }), /Timestamp/);
    });

    it('2000 random and bit-flipped payloads, quickly and always as Errors', () => {
      const good = Buffer.from(GO['two']!, 'hex');
      const started = Date.now();
      for (let i = 0; i < 2000; i++) {
        let buf: Buffer;
        if (i % 2) {
          buf = randomBytes(1 + (i % 300));
        } else {
          buf = Buffer.from(good);
          for (let k = 0; k <= i % 4; k++) {
            const at = (i * 7919 + k * 131) % buf.length;
            buf[at] = buf[at]! ^ (1 << (i % 8));
          }
        }
        try {
          decodeNameserverGossip(buf);
        } catch (err) {
          expect(err).to.be.instanceOf(NameserverGossipError);
        }
      }
      expect(Date.now() - started).to.be.below(10000);
    });
  });
});
