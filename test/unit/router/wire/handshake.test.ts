import { expect } from 'chai';
import { silentLogger } from '../../../../common/logger.ts';
import { acceptMesh, dialMesh, parseMeshAddress } from '../../../../router/mesh/connect.ts';
import type { MeshConnectOptions } from '../../../../router/mesh/connect.ts';
import type { LocalIdentity, MeshConnection } from '../../../../router/mesh/contract.ts';
import { ProtocolTag } from '../../../../router/mesh/contract.ts';
import { ConnectToSelfError, PeerNameCollisionError } from '../../../../router/mesh/errors.ts';
import { encodeFeatures, makeFeatures } from '../../../../router/mesh/features.ts';
import { collect, delay, listen } from './loopback.ts';
import type { Listening } from './loopback.ts';

const A: LocalIdentity = { name: 'aa:00:00:00:00:01', nickname: 'a', uid: 0xfffffffffffffff1n, shortId: 1 };
const B: LocalIdentity = { name: 'bb:00:00:00:00:02', nickname: 'b', uid: 2n, shortId: 2 };

function opts(local: LocalIdentity, extra: Partial<MeshConnectOptions> = {}): MeshConnectOptions {
  return { local, logger: silentLogger(), ...extra };
}

/** Dials `l` with `dialOpts` while accepting the next connection with `acceptOpts`. */
async function connectPair(
  l: Listening,
  dialOpts: MeshConnectOptions,
  acceptOpts: MeshConnectOptions,
): Promise<[PromiseSettledResult<MeshConnection>, PromiseSettledResult<MeshConnection>]> {
  const accepting = l.accepted().then((s) => acceptMesh(s, acceptOpts));
  const dialling = dialMesh(l.address, dialOpts);
  return Promise.all([Promise.allSettled([dialling]).then((r) => r[0]), Promise.allSettled([accepting]).then((r) => r[0])]);
}

function fulfilled(r: PromiseSettledResult<MeshConnection>): MeshConnection {
  if (r.status === 'rejected') throw r.reason;
  return r.value;
}

function rejection(r: PromiseSettledResult<MeshConnection>): Error {
  if (r.status === 'fulfilled') {
    r.value.close();
    throw new Error('expected the handshake to fail');
  }
  return r.reason as Error;
}

function nextMessage(c: MeshConnection): Promise<[number, Buffer]> {
  return new Promise((resolve) => {
    const h = (tag: number, payload: Buffer): void => {
      c.off('message', h);
      resolve([tag, payload]);
    };
    c.on('message', h);
  });
}

function closed(c: MeshConnection): Promise<Error | undefined> {
  return new Promise((resolve) => c.on('close', resolve));
}

describe('mesh handshake over loopback TCP', function () {
  this.timeout(10_000);
  let l: Listening;
  const open: MeshConnection[] = [];
  beforeEach(async () => {
    l = await listen();
  });
  afterEach(async () => {
    for (const c of open.splice(0)) c.close();
    await l.close();
  });

  async function established(dialOpts: MeshConnectOptions, acceptOpts: MeshConnectOptions): Promise<[MeshConnection, MeshConnection]> {
    const [d, a] = await connectPair(l, dialOpts, acceptOpts);
    const pair: [MeshConnection, MeshConnection] = [fulfilled(d), fulfilled(a)];
    open.push(...pair);
    return pair;
  }

  it('parses mesh addresses with Weave\'s default port', () => {
    expect(parseMeshAddress('10.0.0.1')).to.deep.equal({ host: '10.0.0.1', port: 6783 });
    expect(parseMeshAddress('10.0.0.1:7000')).to.deep.equal({ host: '10.0.0.1', port: 7000 });
    expect(parseMeshAddress('[::1]:7000')).to.deep.equal({ host: '::1', port: 7000 });
    expect(parseMeshAddress('::1')).to.deep.equal({ host: '::1', port: 6783 });
    expect(parseMeshAddress('host.example')).to.deep.equal({ host: 'host.example', port: 6783 });
    expect(() => parseMeshAddress('h:99999')).to.throw(/bad port/);
  });

  it('plain: exchanges identities and tagged messages both ways', async () => {
    const [d, a] = await established(opts(A, { features: { Overlays: 'fastdp sleeve', Trusted: 'false' }, localAddress: '127.0.0.1' }), opts(B));
    expect(d.outbound).to.equal(true);
    expect(a.outbound).to.equal(false);
    expect(d.version).to.equal(2);
    expect(d.sessionKey).to.equal(undefined);
    expect(d.remote).to.include({ name: B.name, nickname: 'b', uid: 2n, shortId: 2 });
    expect(a.remote).to.include({ name: A.name, nickname: 'a', uid: A.uid, shortId: 1 });
    expect(a.remote.features).to.include({ Overlays: 'fastdp sleeve', Trusted: 'false', PeerNameFlavour: 'mac' });
    expect(d.connUid).to.equal(a.connUid);
    expect(d.connUid).to.equal(d.remote.connId ^ a.remote.connId);
    expect(d.remoteAddr).to.equal(l.address);
    expect(d.localAddr).to.match(/^127\.0\.0\.1:\d+$/);
    expect(a.localAddr).to.equal(l.address);
    expect(a.remoteAddr).to.equal(d.localAddr);

    const got = nextMessage(a);
    d.send(ProtocolTag.Gossip, Buffer.from('hello'));
    expect(await got).to.deep.equal([4, Buffer.from('hello')]);
    const back = nextMessage(d);
    a.send(ProtocolTag.OverlayControlMsg, Buffer.from([0, 1, 2]));
    expect(await back).to.deep.equal([7, Buffer.from([0, 1, 2])]);
  });

  it('encrypted: both ends derive the same session key and messages flow', async () => {
    const password = Buffer.from('s3cret');
    const [d, a] = await established(opts(A, { password }), opts(B, { password }));
    expect(d.sessionKey).to.have.length(32);
    expect(Buffer.from(d.sessionKey!).equals(Buffer.from(a.sessionKey!))).to.equal(true);
    const received: string[] = [];
    const all = new Promise<void>((resolve) =>
      a.on('message', (_tag, p) => {
        received.push(p.toString());
        if (received.length === 20) resolve();
      }),
    );
    for (let i = 0; i < 20; i++) d.send(ProtocolTag.GossipBroadcast, Buffer.from(`m${i}`));
    await all;
    expect(received).to.deep.equal(Array.from({ length: 20 }, (_, i) => `m${i}`));
  });

  it('keeps large frames whole and in order in both directions', async () => {
    const password = Buffer.from('pw');
    const [d, a] = await established(opts(A, { password }), opts(B, { password }));
    const n = 40;
    const size = 256 * 1024;
    const receive = (c: MeshConnection): Promise<number[]> =>
      new Promise((resolve) => {
        const seen: number[] = [];
        c.on('message', (_t, p) => {
          expect(p.length).to.equal(size);
          expect(p.every((b) => b === p[0])).to.equal(true);
          seen.push(p[0]!);
          if (seen.length === n) resolve(seen);
        });
      });
    const atA = receive(a);
    const atD = receive(d);
    for (let i = 0; i < n; i++) {
      d.send(ProtocolTag.Gossip, Buffer.alloc(size, i));
      a.send(ProtocolTag.Gossip, Buffer.alloc(size, 100 + i));
    }
    expect(await atA).to.deep.equal(Array.from({ length: n }, (_, i) => i));
    expect(await atD).to.deep.equal(Array.from({ length: n }, (_, i) => 100 + i));
  });

  it('password on the dialling side only: both ends fail with a clear reason', async () => {
    const [d, a] = await connectPair(l, opts(A, { password: Buffer.from('pw') }), opts(B));
    expect(rejection(d).message).to.match(/we have a password but the remote does not/);
    expect(rejection(a).message).to.match(/the remote has a password and we do not/);
  });

  it('password on the accepting side only: both ends fail with a clear reason', async () => {
    const [d, a] = await connectPair(l, opts(A), opts(B, { password: Buffer.from('pw') }));
    expect(rejection(d).message).to.match(/the remote has a password and we do not/);
    expect(rejection(a).message).to.match(/we have a password but the remote does not/);
  });

  it('different passwords: the features fail to decrypt and both ends give up', async () => {
    const [d, a] = await connectPair(l, opts(A, { password: Buffer.from('one') }), opts(B, { password: Buffer.from('two') }));
    expect(rejection(d).message).to.match(/unable to decrypt/);
    expect(rejection(a).message).to.match(/unable to decrypt/);
  });

  it('version ranges that do not overlap fail on both ends', async () => {
    const [d, a] = await connectPair(l, opts(A, { minVersion: 1, maxVersion: 1 }), opts(B));
    expect(rejection(d).message).to.equal('remote version range [2,2] is incompatible with ours [1,1]');
    expect(rejection(a).message).to.equal('remote version range [1,1] is incompatible with ours [2,2]');
  });

  it('refuses a negotiated legacy version 1 with a clear error', async () => {
    const [d, a] = await connectPair(l, opts(A, { minVersion: 1, maxVersion: 1 }), opts(B, { minVersion: 1, maxVersion: 2 }));
    expect(rejection(d).message).to.match(/protocol version 1 \(legacy\) is not implemented/);
    expect(rejection(a).message).to.match(/protocol version 1 \(legacy\) is not implemented/);
  });

  it('sends our header and rejects a foreign one', async () => {
    const accepting = l.accepted().then((s) => acceptMesh(s, opts(B)));
    const { connect } = await import('node:net');
    const raw = connect({ host: '127.0.0.1', port: Number(l.address.split(':')[1]) });
    const seen = collect(raw);
    raw.write(Buffer.from('HTTP/1.1'));
    const err = await accepting.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/remote protocol header not recognised/);
    expect((await seen.waitFor(7)).subarray(0, 7).toString('latin1')).to.equal('weave\x02\x02');
    raw.destroy();
  });

  it('plain: sends header, flag and features before the remote says anything (one round trip)', async () => {
    const { connect } = await import('node:net');
    const raw = connect({ host: '127.0.0.1', port: Number(l.address.split(':')[1]) });
    raw.on('error', () => undefined);
    const seen = collect(raw);
    const accepting = l.accepted().then((s) => acceptMesh(s, opts(B)));
    accepting.catch(() => undefined);
    // the remote (raw) has written nothing: all of our introduction arrives all the same
    const head = await seen.waitFor(12);
    expect(head.subarray(0, 8).toString('latin1')).to.equal('weave\x02\x02\x00');
    const len = head.readUInt32BE(8);
    const got = await seen.waitFor(12 + len);
    expect(got.length).to.equal(12 + len);
    expect(got.subarray(12).toString('latin1')).to.include('bb:00:00:00:00:02');
    raw.destroy();
  });

  it('encrypted: sends header, flag and public key before the remote says anything', async () => {
    const { connect } = await import('node:net');
    const raw = connect({ host: '127.0.0.1', port: Number(l.address.split(':')[1]) });
    raw.on('error', () => undefined);
    const seen = collect(raw);
    const accepting = l.accepted().then((s) => acceptMesh(s, opts(B, { password: Buffer.from('pw') })));
    accepting.catch(() => undefined);
    const got = await seen.waitFor(7 + 1 + 32);
    expect(got.subarray(0, 8).toString('latin1')).to.equal('weave\x02\x02\x01');
    // the sealed features need our key and theirs: nothing follows until the remote's key came
    await delay(100);
    expect(seen.bytes().length).to.equal(40);
    raw.destroy();
  });

  it('refuses an oversized first message', async () => {
    const accepting = l.accepted().then((s) => acceptMesh(s, opts(B)));
    const { connect } = await import('node:net');
    const raw = connect({ host: '127.0.0.1', port: Number(l.address.split(':')[1]) });
    raw.on('error', () => undefined);
    raw.write(Buffer.concat([Buffer.from('weave\x02\x02', 'latin1'), Buffer.from([0, 0x00, 0xa0, 0x00, 0x01])]));
    const err = await accepting.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.equal('incoming message exceeds maximum size: 10485761 > 10485760');
    raw.destroy();
  });

  it('reports a refused dial', async () => {
    const port = Number(l.address.split(':')[1]);
    await l.close();
    const [d] = await Promise.allSettled([dialMesh(`127.0.0.1:${port}`, opts(A))]);
    expect(rejection(d!).message).to.match(/ECONNREFUSED/);
    l = await listen();
  });

  it('times out a silent remote in the header phase', async () => {
    const started = Date.now();
    const [d] = await Promise.allSettled([dialMesh(l.address, opts(A, { headerTimeoutMs: 150 }))]);
    expect(rejection(d!).message).to.match(/timed out after 150 ms waiting for the remote protocol header/);
    expect(Date.now() - started).to.be.within(140, 2000);
  });

  it('times out a remote that never sends its features', async () => {
    const accepting = l.accepted().then((s) => acceptMesh(s, opts(B, { featuresTimeoutMs: 150 })));
    const { connect } = await import('node:net');
    const raw = connect({ host: '127.0.0.1', port: Number(l.address.split(':')[1]) });
    raw.on('error', () => undefined);
    raw.write(Buffer.concat([Buffer.from('weave\x01\x02', 'latin1'), Buffer.from([0])]));
    const err = await accepting.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/timed out after 150 ms waiting for the remote features/);
    raw.destroy();
  });

  it('accepts a hand-made Weave intro (features from a plain gob map) and its first message in the same segment', async () => {
    const accepting = l.accepted().then((s) => acceptMesh(s, opts(B)));
    const { connect } = await import('node:net');
    const raw = connect({ host: '127.0.0.1', port: Number(l.address.split(':')[1]) });
    const features = encodeFeatures(makeFeatures(A, 7n, { Overlays: 'sleeve' }));
    const frame = (b: Buffer): Buffer => {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(b.length);
      return Buffer.concat([head, b]);
    };
    raw.write(
      Buffer.concat([
        Buffer.from('weave\x01\x02', 'latin1'),
        Buffer.from([0]),
        frame(features),
        frame(Buffer.from([ProtocolTag.Gossip, 0xca, 0xfe])),
      ]),
    );
    const conn = await accepting;
    open.push(conn);
    expect(conn.remote.connId).to.equal(7n);
    const [tag, payload] = await nextMessage(conn);
    expect([tag, payload.toString('hex')]).to.deep.equal([4, 'cafe']);
    raw.destroy();
  });

  it('connecting to ourselves fails with "cannot connect to ourself"', async () => {
    const [d, a] = await connectPair(l, opts(A), opts(A));
    expect(rejection(d)).to.be.instanceOf(ConnectToSelfError).with.property('message', 'cannot connect to ourself');
    expect(rejection(a)).to.be.instanceOf(ConnectToSelfError);
  });

  it('the same name with another UID is a name collision', async () => {
    const [d, a] = await connectPair(l, opts(A), opts({ ...A, uid: 99n }));
    expect(rejection(d)).to.be.instanceOf(PeerNameCollisionError).with.property('message').that.matches(/name collision/);
    expect(rejection(a)).to.be.instanceOf(PeerNameCollisionError);
  });

  it('heartbeats keep an idle connection alive; close() is reported once, and the remote sees it', async () => {
    const fast = { heartbeatIntervalMs: 40, heartbeatTimeoutMs: 200 };
    const [d, a] = await established(opts(A, fast), opts(B, fast));
    const messages: number[] = [];
    a.on('message', (t) => messages.push(t));
    let dCloses = 0;
    d.on('close', () => dCloses++);
    await delay(600);
    expect(messages).to.deep.equal([]); // heartbeats are not delivered as messages
    const remoteSaw = closed(a);
    d.close();
    d.close(new Error('again'));
    expect((await remoteSaw)?.message).to.match(/closed/);
    await delay(20);
    expect(dCloses).to.equal(1);
    d.send(ProtocolTag.Gossip, Buffer.from('after close')); // ignored, no throw
  });
});
