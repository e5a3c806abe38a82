import { createHash } from 'node:crypto';
import { expect } from 'chai';
import nacl from 'tweetnacl';
import {
  boxBeforeNm,
  connectionCrypto,
  formSessionKey,
  generateKeyPair,
  tcpNonce,
  TcpCryptoState,
} from '../../../../router/mesh/session-crypto.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// The NaCl distribution's box test keys (tests/box.c) and their precomputed key (tests/box7.c "firstkey").
const ALICE_SK = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
const ALICE_PK = hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
const BOB_SK = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
const BOB_PK = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
const FIRST_KEY = hex('1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389');
const RAW_X25519 = hex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');

describe('session crypto', () => {
  it('nonce layout: bit 7 = sender dialled, bit 6 = TCP, bytes 16..23 = big-endian sequence', () => {
    expect(tcpNonce(true, 0n).toString('hex')).to.equal('c0' + '00'.repeat(23));
    expect(tcpNonce(false, 0n).toString('hex')).to.equal('40' + '00'.repeat(23));
    expect(tcpNonce(false, 1n).toString('hex')).to.equal('40' + '00'.repeat(15) + '0000000000000001');
    expect(tcpNonce(true, 0x0102030405060708n).toString('hex')).to.equal('c0' + '00'.repeat(15) + '0102030405060708');
    expect(tcpNonce(true, (1n << 64n) - 1n).subarray(16).toString('hex')).to.equal('ff'.repeat(8));
  });

  it('session key = SHA-256(box.before(theirs, ours) ‖ password), checked against NaCl test vectors', () => {
    expect(Buffer.from(nacl.box.before(BOB_PK, ALICE_SK)).equals(FIRST_KEY)).to.equal(true);
    const password = Buffer.from('secret');
    const expected = createHash('sha256').update(FIRST_KEY).update(password).digest();
    expect(formSessionKey(BOB_PK, ALICE_SK, password).equals(expected)).to.equal(true);
    expect(formSessionKey(ALICE_PK, BOB_SK, password).equals(expected)).to.equal(true);
    // Not the raw X25519 result: Go's box.Precompute runs HSalsa20 over it.
    const raw = createHash('sha256').update(RAW_X25519).update(password).digest();
    expect(formSessionKey(BOB_PK, ALICE_SK, password).equals(raw)).to.equal(false);
    expect(formSessionKey(BOB_PK, ALICE_SK, Buffer.from('other')).equals(expected)).to.equal(false);
  });

  it('box.before from libsodium primitives equals NaCl\'s (test vector, and tweetnacl on random keys)', () => {
    expect(boxBeforeNm(BOB_PK, ALICE_SK).equals(FIRST_KEY)).to.equal(true);
    expect(boxBeforeNm(ALICE_PK, BOB_SK).equals(FIRST_KEY)).to.equal(true);
    for (let i = 0; i < 200; i++) {
      const a = nacl.box.keyPair();
      const b = nacl.box.keyPair();
      expect(boxBeforeNm(b.publicKey, a.secretKey).equals(Buffer.from(nacl.box.before(b.publicKey, a.secretKey)))).to.equal(true);
    }
  });

  it('box.before refuses a low-order public key (all-zero shared secret)', () => {
    expect(() => boxBeforeNm(Buffer.alloc(32), ALICE_SK)).to.throw(/low-order/);
  });

  it('fresh key pairs agree on the key from both ends', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    const pw = Buffer.from('pw');
    expect(formSessionKey(b.publicKey, a.secretKey, pw).equals(formSessionKey(a.publicKey, b.secretKey, pw))).to.equal(true);
  });

  it('our secretbox is byte-identical to tweetnacl secretbox, and each opens the other', () => {
    const key = createHash('sha256').update('k').digest();
    const sender = new TcpCryptoState(key, true);
    for (let seq = 0n; seq < 3n; seq++) {
      const msg = Buffer.from(`message ${seq}`.repeat(Number(seq) + 1));
      const ours = sender.seal(msg);
      const theirs = nacl.secretbox(msg, tcpNonce(true, seq), key);
      expect(ours.toString('hex')).to.equal(Buffer.from(theirs).toString('hex'));
      expect(Buffer.from(nacl.secretbox.open(ours, tcpNonce(true, seq), key)!).equals(msg)).to.equal(true);
    }
    const receiver = new TcpCryptoState(key, true);
    const fromTweetnacl = nacl.secretbox(Buffer.from('hi'), tcpNonce(true, 0n), key);
    expect(receiver.open(fromTweetnacl)?.toString()).to.equal('hi');
  });

  it('each end sends with its own polarity and receives with the other', () => {
    const key = createHash('sha256').update('k2').digest();
    const dialler = connectionCrypto(key, true);
    const acceptor = connectionCrypto(key, false);
    const m = Buffer.from('same plaintext');
    const fromDialler = dialler.sender.seal(m);
    const fromAcceptor = acceptor.sender.seal(m);
    expect(fromDialler.equals(fromAcceptor)).to.equal(false);
    expect(acceptor.receiver.open(fromDialler)?.equals(m)).to.equal(true);
    expect(dialler.receiver.open(fromAcceptor)?.equals(m)).to.equal(true);
    // A reflected message (our own, sent back) must not open.
    expect(dialler.receiver.open(dialler.sender.seal(m))).to.equal(undefined);
  });

  it('refuses reordered, replayed, tampered and short messages without advancing', () => {
    const key = createHash('sha256').update('k3').digest();
    const tx = new TcpCryptoState(key, false);
    const rx = new TcpCryptoState(key, false);
    const first = tx.seal(Buffer.from('one'));
    const second = tx.seal(Buffer.from('two'));
    expect(rx.open(second)).to.equal(undefined);
    expect(rx.sequence).to.equal(0n);
    const tampered = Buffer.from(first);
    tampered[tampered.length - 1]! ^= 1;
    expect(rx.open(tampered)).to.equal(undefined);
    expect(rx.open(Buffer.alloc(5))).to.equal(undefined);
    expect(rx.open(first)?.toString()).to.equal('one');
    expect(rx.open(first)).to.equal(undefined);
    expect(rx.open(second)?.toString()).to.equal('two');
    expect(rx.sequence).to.equal(2n);
  });
});
