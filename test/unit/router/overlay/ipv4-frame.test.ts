import { expect } from 'chai';
import { fragmentIpv4, icmpFragNeeded, internetChecksum, ipv4DfState } from '../../../../router/overlay/ipv4-frame.ts';

// Ethernet + IPv4 (10.32.0.1 -> 10.32.0.2, UDP) with the given flags and payload length
function ipFrame(flags: number, payloadLen: number, fragOffset = 0): Buffer {
  const f = Buffer.alloc(14 + 20 + payloadLen);
  Buffer.from('0a0000000002', 'hex').copy(f, 0);
  Buffer.from('0a0000000001', 'hex').copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(20 + payloadLen, 16);
  f.writeUInt16BE(0x1234, 18);
  f.writeUInt16BE(flags | fragOffset, 20);
  f[22] = 64;
  f[23] = 17;
  Buffer.from([10, 32, 0, 1, 10, 32, 0, 2]).copy(f, 26);
  f.writeUInt16BE(internetChecksum(f, 14, 20), 24);
  for (let i = 0; i < payloadLen; i++) f[34 + i] = i & 0xff;
  return f;
}

describe('IPv4 frame helpers', function () {
  it('checksums like RFC 1071 (example header)', function () {
    const h = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex');
    expect(internetChecksum(h, 0, 20)).to.equal(0xb861);
    h.writeUInt16BE(0xb861, 10);
    expect(internetChecksum(h, 0, 20)).to.equal(0);
  });

  it('tells DF IPv4, plain IPv4 and non-IP frames apart', function () {
    expect(ipv4DfState(ipFrame(0x4000, 10), 0, 44)).to.equal(2);
    expect(ipv4DfState(ipFrame(0, 10), 0, 44)).to.equal(1);
    const arp = ipFrame(0, 10);
    arp.writeUInt16BE(0x0806, 12);
    expect(ipv4DfState(arp, 0, 44)).to.equal(0);
  });

  it('builds ICMP frag-needed back to the sender, carrying the MTU and the quoted header', function () {
    const big = ipFrame(0x4000, 1500);
    const icmp = icmpFragNeeded(big, 0, big.length, 1438)!;
    expect(icmp.length).to.equal(14 + 20 + 8 + 28);
    expect(icmp.subarray(0, 14).toString('hex')).to.equal('0a0000000001' + '0a0000000002' + '0800');
    // IPv4: 10.32.0.2 -> 10.32.0.1, ICMP, valid checksum, no DF
    expect(icmp.subarray(14, 24).toString('hex')).to.equal('45000038000000004001');
    expect(icmp[14 + 9]).to.equal(1);
    expect([...icmp.subarray(26, 34)]).to.deep.equal([10, 32, 0, 2, 10, 32, 0, 1]);
    expect(internetChecksum(icmp, 14, 20)).to.equal(0);
    // ICMP type 3 code 4, next-hop MTU 1438, checksum over the ICMP message
    expect(icmp[34]).to.equal(3);
    expect(icmp[35]).to.equal(4);
    expect(icmp.readUInt16BE(40)).to.equal(1438);
    expect(internetChecksum(icmp, 34, icmp.length - 34)).to.equal(0);
    expect(icmp.subarray(42).equals(big.subarray(14, 14 + 28))).to.equal(true);
    const arp = ipFrame(0, 10);
    arp.writeUInt16BE(0x0806, 12);
    expect(icmpFragNeeded(arp, 0, arp.length, 1400)).to.equal(undefined);
  });

  it('fragments a non-DF packet into 8-byte-aligned pieces that reassemble', function () {
    const big = ipFrame(0, 3000);
    const scratch = Buffer.alloc(2000);
    const pieces: Buffer[] = [];
    const n = fragmentIpv4(big, 0, big.length, 1400, scratch, (b, o, l) => pieces.push(Buffer.from(b.subarray(o, o + l))));
    expect(n).to.equal(3);
    const segs = pieces.map((p) => ({ len: p.readUInt16BE(16), mf: (p.readUInt16BE(20) & 0x2000) !== 0, off: (p.readUInt16BE(20) & 0x1fff) * 8, ck: internetChecksum(p, 14, 20) }));
    expect(segs).to.deep.equal([
      { len: 20 + 1376, mf: true, off: 0, ck: 0 },
      { len: 20 + 1376, mf: true, off: 1376, ck: 0 },
      { len: 20 + 248, mf: false, off: 2752, ck: 0 },
    ]);
    const payload = Buffer.concat(pieces.map((p) => p.subarray(34)));
    expect(payload.equals(big.subarray(34))).to.equal(true);
    for (const p of pieces) expect(p.subarray(0, 14).equals(big.subarray(0, 14))).to.equal(true);
    expect(fragmentIpv4(ipFrame(0x4000, 3000), 0, 3034, 1400, scratch, () => undefined)).to.equal(0);
  });

  it('keeps MF on the last piece of a packet that was itself a middle fragment', function () {
    const mid = ipFrame(0x2000, 1600, 100); // offset 800 bytes, more fragments follow; 976 + 624
    const scratch = Buffer.alloc(2000);
    const flags: number[] = [];
    fragmentIpv4(mid, 0, mid.length, 1000, scratch, (b) => flags.push(b.readUInt16BE(20)));
    expect(flags).to.deep.equal([0x2000 | 100, 0x2000 | (100 + 122)]);
  });
});
