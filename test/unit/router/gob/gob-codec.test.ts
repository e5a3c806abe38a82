import { expect } from 'chai';
import { gob, gobEncode, gobDecode, gobDecodeAll, GobEncoder, GobDecoder, GobError } from '../../../../router/gob/index.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const Point = gob.struct('Point', { X: gob.int, Y: gob.int });

describe('gob codec', () => {
  describe('byte vectors', () => {
    it('encodes Point{22, 33} exactly as the encoding/gob documentation shows', () => {
      // From Go's encoding/gob doc.go worked example (type definition + value).
      const expected = hex(`1f ff 81 03 01 01 05 50 6f 69 6e 74 01 ff 82 00
                            01 02 01 01 58 01 04 00 01 01 59 01 04 00 00 00
                            07 ff 82 01 2c 01 42 00`);
      expect(toHex(gobEncode(Point, { X: 22, Y: 33 }))).to.equal(toHex(expected));
      expect(gobDecode(Point, expected)).to.deep.equal({ X: 22, Y: 33 });
    });

    it('sends a type definition once per stream encoder', () => {
      const enc = new GobEncoder();
      const first = enc.encode(Point, { X: 22, Y: 33 });
      const second = enc.encode(Point, { X: 22, Y: 33 });
      expect(first.length).to.equal(40);
      expect(toHex(second)).to.equal('07ff82012c014200');
      const dec = new GobDecoder();
      dec.push(Buffer.concat([first, second]));
      expect(dec.decode(Point)).to.deep.equal({ X: 22, Y: 33 });
      expect(dec.decode(Point)).to.deep.equal({ X: 22, Y: 33 });
      expect(dec.atEnd).to.equal(true);
    });

    it('a value that does not fit its type leaves the stream consistent', () => {
      const enc = new GobEncoder();
      expect(() => enc.encode(Point, { X: 'nope' as unknown as number })).to.throw(GobError, /Point\.X/);
      const dec = new GobDecoder();
      dec.push(enc.encode(Point, { X: 1, Y: 2 }));
      expect(dec.decode(Point)).to.deep.equal({ X: 1, Y: 2 });
    });

    it('map[string]string as Go encodes it (real gob bytes)', () => {
      const m = gob.map(gob.string, gob.string);
      const bytes = hex('0eff81040102ff8200010c010c000012ff820001046e616d65087a68616e6773616e');
      expect(toHex(gobEncode(m, { name: 'zhangsan' }))).to.equal(toHex(bytes));
      expect(gobDecode(m, bytes)).to.deep.equal(new Map([['name', 'zhangsan']]));
    });

    it('map[string]int as Go encodes it (real gob bytes)', () => {
      const m = gob.map(gob.string, gob.int);
      const bytes = hex('0eff81040102ff8200010c0104000015ff820003036f6e65020374776f0405746872656506');
      const value = new Map([
        ['one', 1],
        ['two', 2],
        ['three', 3],
      ]);
      expect(toHex(gobEncode(m, value))).to.equal(toHex(bytes));
      expect(gobDecode(m, bytes)).to.deep.equal(value);
    });

    it('top-level singletons: string, uint64, []byte, int, bool, float (delta-0 wrapper)', () => {
      expect(toHex(gobEncode(gob.string, 'hello'))).to.equal('080c000568656c6c6f');
      expect(toHex(gobEncode(gob.uint64, 7n))).to.equal('03060007');
      expect(toHex(gobEncode(gob.uint64, 0n))).to.equal('03060000');
      expect(toHex(gobEncode(gob.uint64, (1n << 64n) - 1n))).to.equal('0b0600f8ffffffffffffffff');
      expect(toHex(gobEncode(gob.uint, 256))).to.equal('050600fe0100');
      expect(toHex(gobEncode(gob.bytes, Buffer.from([1, 2, 3])))).to.equal('060a0003010203');
      expect(toHex(gobEncode(gob.int, -1))).to.equal('03040001');
      expect(toHex(gobEncode(gob.int, 256))).to.equal('050400fe0200');
      expect(toHex(gobEncode(gob.int, -129))).to.equal('050400fe0101');
      expect(toHex(gobEncode(gob.bool, true))).to.equal('03020001');
      // gob doc: 17.0 is sent as FE 31 40
      expect(toHex(gobEncode(gob.float, 17))).to.equal('050800fe3140');
    });

    it('int64 extremes', () => {
      const min = -(1n << 63n);
      const max = (1n << 63n) - 1n;
      expect(toHex(gobEncode(gob.int64, min))).to.equal('0b0400f8ffffffffffffffff');
      expect(toHex(gobEncode(gob.int64, max))).to.equal('0b0400f8fffffffffffffffe');
      expect(gobDecode(gob.int64, gobEncode(gob.int64, min))).to.equal(min);
      expect(gobDecode(gob.int64, gobEncode(gob.int64, max))).to.equal(max);
      expect(() => gobEncode(gob.int64, max + 1n)).to.throw(GobError);
      expect(() => gobEncode(gob.uint64, (1n << 64n))).to.throw(GobError);
      expect(() => gobEncode(gob.uint64, -1n)).to.throw(GobError);
      // Numbers beyond 2^53 may have lost bits already: bigint is required.
      expect(() => gobEncode(gob.uint, 2 ** 60)).to.throw(GobError, /bigint/);
      expect(() => gobEncode(gob.int, -(2 ** 60))).to.throw(GobError, /bigint/);
      expect(() => gobEncode(gob.int, 1.5)).to.throw(GobError);
      expect(gobDecode(gob.int, gobEncode(gob.int, Number.MIN_SAFE_INTEGER))).to.equal(Number.MIN_SAFE_INTEGER);
      expect(gobDecode(gob.uint, gobEncode(gob.uint, Number.MAX_SAFE_INTEGER))).to.equal(Number.MAX_SAFE_INTEGER);
    });

    it('slice of structs: slice definition first, then the element struct, ids as Go allocates them', () => {
      const T = gob.struct('T', { A: gob.bool });
      const bytes = gobEncode(gob.slice(T), [{ A: true }]);
      const expected = hex(`0d ff83 02 01 02 ff84 00 01 ff82 00 00
                            15 ff81 03 01 01 01 54 01 ff82 00 01 01 01 01 41 01 02 00 00 00
                            07 ff84 00 01 01 01 00`);
      expect(toHex(bytes)).to.equal(toHex(expected));
      expect(gobDecode(gob.slice(T), expected)).to.deep.equal([{ A: true }]);
    });

    it('leaves zero struct fields out and an empty top-level slice in', () => {
      const S = gob.struct('S', { A: gob.uint, B: gob.string, C: gob.bool, D: gob.bytes });
      const enc = new GobEncoder();
      enc.encode(S, {});
      // Only field D (index 3): delta 4, then the terminator.
      expect(toHex(enc.encode(S, { D: Buffer.from([9]) }))).to.equal('06ff8204010900');
      expect(toHex(enc.encode(S, {}))).to.equal('03ff8200');
      const e2 = new GobEncoder();
      const empty = e2.encode(gob.slice(S), []);
      expect(toHex(empty.subarray(empty.length - 5))).to.equal('04ff840000');
    });
  });

  describe('decoding', () => {
    it('matches fields by name, ignores unknown fields (of any type) and zero-fills missing ones', () => {
      const Inner = gob.struct('Inner', { Q: gob.string, R: gob.slice(gob.uint64) });
      const Sender = gob.struct('Point', {
        Y: gob.int,
        Extra: gob.slice(Inner),
        Tags: gob.map(gob.string, gob.bytes),
        X: gob.int,
        Z: gob.float,
      });
      const bytes = gobEncode(Sender, {
        Y: 33,
        Extra: [{ Q: 'q', R: [1n, 1n << 63n] }],
        Tags: new Map([['k', Buffer.from('v')]]),
        X: -22,
        Z: 1.5,
      });
      const Receiver = gob.struct('Point', { X: gob.int, Y: gob.int, W: gob.string, N: gob.slice(gob.string) });
      expect(gobDecode(Receiver, bytes)).to.deep.equal({ X: -22, Y: 33, W: '', N: [] });
    });

    it('decodes without a local type', () => {
      const dec = new GobDecoder();
      dec.push(gobEncode(Point, { X: 1, Y: -2 }));
      expect(dec.decodeAny()).to.deep.equal({ X: 1n, Y: -2n });
    });

    it('keeps uint64 values near 2^64 exact as bigint and refuses them as number', () => {
      const U = gob.struct('U', { UID: gob.uint64 });
      const uid = 0xfedcba9876543210n;
      const bytes = gobEncode(U, { UID: uid });
      expect(gobDecode(U, bytes).UID).to.equal(uid);
      expect(() => gobDecode(gob.struct('U', { UID: gob.uint }), bytes)).to.throw(GobError, /2\^53/);
    });

    it('refuses signed/unsigned and other type mismatches, as Go does', () => {
      const bytes = gobEncode(gob.struct('P', { X: gob.int }), { X: 5 });
      expect(() => gobDecode(gob.struct('P', { X: gob.uint }), bytes)).to.throw(GobError, /mismatch/);
      expect(() => gobDecode(gob.string, gobEncode(gob.uint, 3))).to.throw(GobError, /mismatch/);
    });

    it('refuses a struct with no field in common, and a type id defined twice', () => {
      const bytes = gobEncode(gob.struct('A', { P: gob.int, Q: gob.string }), { P: 1 });
      expect(() => gobDecode(gob.struct('B', { R: gob.int }), bytes)).to.throw(GobError, /no fields matched/);
      const def = gobEncode(Point, { X: 1, Y: 2 }).subarray(0, 32);
      expect(() => gobDecode(Point, Buffer.concat([def, def]))).to.throw(GobError, /duplicate/);
    });

    it('waits for complete messages in a stream fed byte by byte', () => {
      const enc = new GobEncoder();
      const all = Buffer.concat([enc.encode(Point, { X: 1, Y: 2 }), enc.encode(Point, { X: 3, Y: 4 })]);
      const dec = new GobDecoder();
      const got: unknown[] = [];
      for (const b of all) {
        dec.push(Buffer.from([b]));
        const v = dec.tryDecode(Point);
        if (v !== undefined) got.push(v);
      }
      expect(got).to.deep.equal([
        { X: 1, Y: 2 },
        { X: 3, Y: 4 },
      ]);
    });

    it('decodes all values of a self-contained stream', () => {
      const enc = new GobEncoder();
      const bytes = Buffer.concat([enc.encode(gob.string, 'a'), enc.encode(gob.string, 'b')]);
      expect(gobDecodeAll(gob.string, bytes)).to.deep.equal(['a', 'b']);
    });

    it('rejects corrupt input with GobError', () => {
      expect(() => gobDecode(Point, hex('07ff82012c014200'))).to.throw(GobError, /before its definition/);
      expect(() => gobDecode(gob.string, hex('080c00ff68656c6c6f'))).to.throw(GobError);
      expect(() => gobDecode(gob.string, hex('080c01056865'))).to.throw(GobError);
      // Count claims more elements than bytes remain.
      expect(() => gobDecode(gob.slice(gob.string), hex('0cff83020102ff8400010c0000 05ff84007f00'))).to.throw(GobError, /count/);
      expect(() => new GobDecoder({ maxMessageBytes: 16 }).push(hex('1f'))).to.not.throw();
      const small = new GobDecoder({ maxMessageBytes: 16 });
      small.push(gobEncode(Point, { X: 1, Y: 2 }));
      expect(() => small.decode(Point)).to.throw(GobError, /exceeds/);
    });

    it('round-trips nested containers', () => {
      const T = gob.struct('Ring', {
        Entries: gob.slice(gob.struct('entry', { Token: gob.uint, Peer: gob.uint64, Version: gob.uint, Free: gob.uint })),
        Seeds: gob.slice(gob.uint64),
        Names: gob.map(gob.uint64, gob.string),
        Fixed: gob.array(gob.uint, 3),
        Nested: gob.struct('NodeID', { Name: gob.uint64, UID: gob.uint64 }),
      });
      const value = {
        Entries: [
          { Token: 0x0a200000, Peer: 0x123456789abcn, Version: 3, Free: 0 },
          { Token: 0x0a280000, Peer: 1n, Version: 0, Free: 1024 },
        ],
        Seeds: [0xffffffffffffn],
        Names: new Map([[0x0an, 'host-a']]),
        Fixed: [1, 0, 2],
        Nested: { Name: 0n, UID: 0n },
      };
      expect(gobDecode(T, gobEncode(T, value))).to.deep.equal(value);
    });
  });
});
