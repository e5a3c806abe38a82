import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { gob, gobDecodeAll, GobError } from '../../../../router/gob/index.ts';
import { encodeTopology, peerSummaryType } from '../../../../router/mesh/topology-codec.ts';

/** Decoding hostile bytes may fail, but only with GobError, never a crash or a hang. */
function decodeOrGobError(bytes: Buffer): void {
  for (const type of [peerSummaryType, gob.map(gob.string, gob.string), gob.slice(gob.uint64)]) {
    try {
      gobDecodeAll(type, bytes);
    } catch (err) {
      if (!(err instanceof GobError)) throw new Error(`non-GobError on ${bytes.toString('hex')}: ${String(err)}`);
    }
  }
}

describe('gob decoder robustness', () => {
  it('random bytes', () => {
    for (let i = 0; i < 2000; i++) decodeOrGobError(randomBytes(1 + (i % 64)));
  });

  it('valid streams with bytes flipped, dropped and truncated', () => {
    const valid = encodeTopology([
      {
        name: 'ce:31:e0:06:45:1a',
        nickname: 'host1',
        uid: 0xfedcba9876543210n,
        version: 3,
        shortId: 7,
        hasShortId: true,
        connections: [{ name: '00:00:00:00:00:01', remoteTcpAddr: '10.0.0.1:6783', outbound: true, established: true }],
      },
    ]);
    const noise = randomBytes(4000);
    for (let i = 0; i < 2000; i++) {
      const mutated = Buffer.from(valid);
      mutated[noise[i]! % mutated.length] = noise[(i + 1) % noise.length]!;
      decodeOrGobError(mutated);
      decodeOrGobError(valid.subarray(0, i % valid.length));
      decodeOrGobError(Buffer.concat([valid.subarray(0, i % valid.length), valid.subarray((i % valid.length) + 1)]));
    }
    expect(valid.length).to.be.greaterThan(100);
  });
});
