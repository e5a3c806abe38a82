import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { expect } from 'chai';
import { silentLogger } from '../../../../common/logger.ts';
import type { RemoteIdentity } from '../../../../router/mesh/contract.ts';
import { ProtocolTag } from '../../../../router/mesh/contract.ts';
import { encodeFrame } from '../../../../router/mesh/framing.ts';
import { ProtocolConnection } from '../../../../router/mesh/protocol-connection.ts';
import type { ProtocolConnectionParams } from '../../../../router/mesh/protocol-connection.ts';
import { connectionCrypto } from '../../../../router/mesh/session-crypto.ts';
import { collect, delay, listen, socketPair } from './loopback.ts';
import type { Listening } from './loopback.ts';

const local = { name: 'aa:00:00:00:00:01', nickname: 'a', uid: 1n, shortId: 1 };
const remote: RemoteIdentity = { name: 'bb:00:00:00:00:02', nickname: 'b', uid: 2n, connId: 5n, features: {} };
const key = createHash('sha256').update('session').digest();

function closeReason(c: ProtocolConnection): Promise<Error | undefined> {
  return new Promise((resolve) => c.on('close', resolve));
}

describe('protocol connection (raw remote end)', function () {
  this.timeout(5000);
  let l: Listening;
  let ours: Socket;
  let theirs: Socket;
  const conns: ProtocolConnection[] = [];

  beforeEach(async () => {
    l = await listen();
    [ours, theirs] = await socketPair(l);
    theirs.on('error', () => undefined);
  });
  afterEach(async () => {
    for (const c of conns.splice(0)) c.close();
    theirs.destroy();
    await l.close();
  });

  function make(extra: Partial<ProtocolConnectionParams> = {}): ProtocolConnection {
    const c = new ProtocolConnection({
      socket: ours,
      local,
      remote,
      outbound: true,
      version: 2,
      connUid: 9n,
      logger: silentLogger(),
      ...extra,
    });
    conns.push(c);
    return c;
  }

  it('frames tag + payload as one length-prefixed message', async () => {
    const c = make();
    const seen = collect(theirs);
    c.send(ProtocolTag.GossipUnicast, Buffer.from([1, 2, 3]));
    expect((await seen.waitFor(8)).toString('hex')).to.equal('0000000405010203');
  });

  it('sends heartbeats (tag 0, empty) at the configured interval', async () => {
    make({ heartbeatIntervalMs: 50, heartbeatTimeoutMs: 5000 });
    const seen = collect(theirs);
    const bytes = await seen.waitFor(15, 1000);
    expect(bytes.subarray(0, 15).toString('hex')).to.equal('0000000100'.repeat(3));
  });

  it('closes with an error when nothing arrives within the heartbeat timeout, not before', async () => {
    const c = make({ heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 200 });
    const reason = closeReason(c);
    // Keep it alive for a while with heartbeats from the remote end...
    for (let i = 0; i < 5; i++) {
      await delay(80);
      theirs.write(encodeFrame(Buffer.from([0])));
    }
    expect(c.isClosed).to.equal(false);
    // ...then go silent.
    const started = Date.now();
    expect((await reason)?.message).to.equal('no message received for 200 ms');
    expect(Date.now() - started).to.be.within(150, 1000);
  });

  it('refuses an oversized incoming frame by closing with an error', async () => {
    const c = make();
    const reason = closeReason(c);
    theirs.write(Buffer.from([0x00, 0xa0, 0x00, 0x01]));
    expect((await reason)?.message).to.equal('incoming message exceeds maximum size: 10485761 > 10485760');
  });

  it('closes instead of sending an oversized message', async () => {
    const c = make();
    const reason = closeReason(c);
    c.send(ProtocolTag.Gossip, Buffer.alloc(10 * 1024 * 1024));
    expect((await reason)?.message).to.match(/outgoing message exceeds maximum size/);
  });

  it('decrypts in sequence and closes on a message that fails to decrypt', async () => {
    const mine = connectionCrypto(key, true);
    const peer = connectionCrypto(key, false);
    const c = make({ sessionKey: key, sender: mine.sender, receiver: mine.receiver });
    const got: string[] = [];
    c.on('message', (tag, p) => got.push(`${tag}:${p.toString()}`));
    const reason = closeReason(c);
    theirs.write(encodeFrame(peer.sender.seal(Buffer.from('\x04one'))));
    theirs.write(encodeFrame(peer.sender.seal(Buffer.from('\x00'))));
    theirs.write(encodeFrame(peer.sender.seal(Buffer.from('\x06two'))));
    // Sealed with the wrong polarity (as if reflected): must not open.
    theirs.write(encodeFrame(mine.sender.seal(Buffer.from('\x04three'))));
    expect((await reason)?.message).to.equal('unable to decrypt TCP message');
    expect(got).to.deep.equal(['4:one', '6:two']);
  });

  it('seals what it sends so the remote opens it with the opposite polarity', async () => {
    const mine = connectionCrypto(key, true);
    const peer = connectionCrypto(key, false);
    const c = make({ sessionKey: key, sender: mine.sender, receiver: mine.receiver });
    const seen = collect(theirs);
    c.send(ProtocolTag.Gossip, Buffer.from('hi'));
    const bytes = await seen.waitFor(4 + 3 + 16);
    expect(bytes.readUInt32BE(0)).to.equal(19);
    expect(peer.receiver.open(bytes.subarray(4, 23))?.toString('latin1')).to.equal('\x04hi');
  });

  it('holds messages that arrive before anyone listens, then delivers them in order', async () => {
    const c = make();
    theirs.write(Buffer.concat([encodeFrame(Buffer.from('\x04a')), encodeFrame(Buffer.from('\x05b'))]));
    await delay(100);
    const got: string[] = [];
    await new Promise<void>((resolve) =>
      c.on('message', (tag, p) => {
        got.push(`${tag}:${p.toString()}`);
        if (got.length === 3) resolve();
        if (got.length === 2) theirs.write(encodeFrame(Buffer.from('\x06c')));
      }),
    );
    expect(got).to.deep.equal(['4:a', '5:b', '6:c']);
  });

  it('a message handler that throws tears the connection down with its error', async () => {
    const c = make();
    c.on('message', () => {
      throw new Error('IP allocation was seeded by different peers');
    });
    const reason = closeReason(c);
    theirs.write(encodeFrame(Buffer.from('\x04x')));
    expect((await reason)?.message).to.equal('IP allocation was seeded by different peers');
  });

  it('reports the remote closing', async () => {
    const c = make();
    const reason = closeReason(c);
    theirs.end();
    expect((await reason)?.message).to.match(/closed by remote/);
  });
});
