// Weave's fastdp IPsec key derivation and CryptoInitSARemote body against vectors Go computed
// with golang.org/x/crypto/hkdf (fixtures/ipsec-gen/main.go -> fixtures/ipsec-vectors.json).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import {
  decodeInitSaRemote,
  deriveIpsecKey,
  encodeInitSaRemote,
  INIT_SA_REMOTE_BYTES,
} from '../../../../router/overlay/fastdp-ipsec-message.ts';
import { peerNameFromBigInt } from '../../../../router/mesh/peer-name.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const vectorsFile = path.join(here, 'fixtures', 'ipsec-vectors.json');

interface Vector {
  sessionKey: string;
  nonce: string;
  receiver: string;
  spi: number;
  key: string;
  message: string;
}

const vectors = JSON.parse(fs.readFileSync(vectorsFile, 'utf8')) as Vector[];
const h = (s: string): Buffer => Buffer.from(s, 'hex');

describe('fastdp IPsec key and CryptoInitSARemote (vs Go)', function () {
  for (const [i, v] of vectors.entries()) {
    it(`vector ${i}: HKDF-SHA256(session key, nonce, receiver ${v.receiver}) and the 64-byte message`, function () {
      const receiver = peerNameFromBigInt(BigInt(`0x${v.receiver}`));
      expect(deriveIpsecKey(h(v.sessionKey), h(v.nonce), receiver).toString('hex')).to.equal(v.key);
      const msg = encodeInitSaRemote({ nonce: h(v.nonce), spi: v.spi });
      expect(msg.toString('hex')).to.equal(v.message);
      expect(msg).to.have.length(INIT_SA_REMOTE_BYTES);
      expect(decodeInitSaRemote(h(v.message))).to.deep.equal({ nonce: h(v.nonce), spi: v.spi });
    });
  }

  it('the key depends on which peer receives (each direction has its own)', function () {
    const v = vectors[0]!;
    const a = deriveIpsecKey(h(v.sessionKey), h(v.nonce), '00:00:00:00:00:01');
    const b = deriveIpsecKey(h(v.sessionKey), h(v.nonce), '00:00:00:00:00:02');
    expect(a.equals(b)).to.equal(false);
  });

  it('refuses bodies of another size than Weave checks for, and bad key material', function () {
    expect(() => decodeInitSaRemote(Buffer.alloc(36))).to.throw(/invalid payload size 36/);
    expect(() => decodeInitSaRemote(Buffer.alloc(0))).to.throw(/invalid payload size 0/);
    expect(() => encodeInitSaRemote({ nonce: Buffer.alloc(16), spi: 1 })).to.throw(/32 bytes/);
    expect(() => deriveIpsecKey(Buffer.alloc(31), Buffer.alloc(32), '00:00:00:00:00:01')).to.throw(/session key/);
  });

  it('the committed vectors are what the Go program prints today', function () {
    this.timeout(180_000);
    // CI installs Go (.ci/run); a machine without it must not pass silently
    if (spawnSync('go', ['version']).status !== 0) {
      throw new Error('this check needs Go and x/crypto: apt-get install golang-go golang-golang-x-crypto-dev (.ci/run does)');
    }
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'ipsec-gen-'));
    try {
      const run = spawnSync('go', ['run', 'main.go'], {
        cwd: path.join(here, 'fixtures', 'ipsec-gen'),
        env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOCACHE: cache },
        encoding: 'utf8',
      });
      if (run.status !== 0) throw new Error(`go run failed (is golang-golang-x-crypto-dev installed?):\n${run.stderr}`);
      expect(JSON.parse(run.stdout)).to.deep.equal(vectors);
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });
});
