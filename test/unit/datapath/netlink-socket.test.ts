import { expect } from 'chai';
import { NetlinkSocket } from '../../../datapath/netlink/socket.ts';
import { NetlinkError } from '../../../datapath/netlink/netlink-error.ts';
import type { NetlinkMessage } from '../../../datapath/netlink/message.ts';
import { NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTI, NLM_F_REQUEST } from '../../../datapath/netlink/constants.ts';
import { FakeKernel } from './fake-kernel.ts';

function part(req: NetlinkMessage, body: string, flags = NLM_F_MULTI): NetlinkMessage {
  return { type: 16, flags, seq: req.seq, pid: req.pid, payload: Buffer.from(body) };
}

async function rejection(p: Promise<unknown>): Promise<NetlinkError> {
  try {
    await p;
  } catch (err) {
    return err as NetlinkError;
  }
  throw new Error('expected a rejection');
}

describe('NetlinkSocket (against a scripted kernel)', function () {
  let kernel: FakeKernel;
  let sock: NetlinkSocket;

  beforeEach(function () {
    kernel = new FakeKernel();
    sock = NetlinkSocket.open(0, { native: kernel.native, timeoutMs: 200 });
  });
  afterEach(function () {
    sock.close();
  });

  it('stamps requests with our port id, increasing sequence numbers and REQUEST|ACK', async function () {
    kernel.onRequest = (req) => kernel.reply(FakeKernel.ack(req));
    await sock.request(16, 0x600, Buffer.from('a'));
    await sock.request(16, 0, Buffer.from('b'));
    expect(kernel.sent.map((m) => [m.pid, m.flags])).to.deep.equal([
      [4242, NLM_F_REQUEST | NLM_F_ACK | 0x600],
      [4242, NLM_F_REQUEST | NLM_F_ACK],
    ]);
    expect(kernel.sent[1]!.seq).to.equal(kernel.sent[0]!.seq + 1);
    expect(sock.portId).to.equal(4242);
  });

  it('resolves with the replies that precede the ack', async function () {
    kernel.onRequest = (req) => kernel.reply(part(req, 'link', 0), FakeKernel.ack(req));
    const replies = await sock.request(18, 0, Buffer.alloc(16));
    expect(replies.map((r) => r.payload.toString())).to.deep.equal(['link']);
  });

  it('rejects with NetlinkError on a negative ack', async function () {
    kernel.onRequest = (req) => kernel.reply(FakeKernel.ack(req, 17));
    const err = await rejection(sock.request(16, 0, Buffer.alloc(16), { describe: () => 'create bridge x' }));
    expect(err).to.be.instanceOf(NetlinkError);
    expect(err.code).to.equal('EEXIST');
    expect(err.errno).to.equal(17);
    expect(err.message).to.match(/^create bridge x: EEXIST/);
  });

  it('collects a dump across datagrams until NLMSG_DONE, without asking for an ack', async function () {
    kernel.onRequest = (req) => {
      kernel.reply(part(req, 'a'), part(req, 'b'));
      kernel.reply(part(req, 'c'), FakeKernel.done(req));
    };
    const replies = await sock.request(18, NLM_F_DUMP, Buffer.alloc(16));
    expect(replies.map((r) => r.payload.toString())).to.deep.equal(['a', 'b', 'c']);
    expect(kernel.sent[0]!.flags & NLM_F_ACK).to.equal(0);
  });

  it('restarts an interrupted dump and returns only the consistent one', async function () {
    let n = 0;
    kernel.onRequest = (req) => {
      n++;
      if (n === 1) kernel.reply(part(req, 'old', NLM_F_MULTI | NLM_F_DUMP_INTR), FakeKernel.done(req, NLM_F_MULTI | NLM_F_DUMP_INTR));
      else kernel.reply(part(req, 'new'), FakeKernel.done(req));
    };
    const replies = await sock.request(18, NLM_F_DUMP, Buffer.alloc(16));
    expect(replies.map((r) => r.payload.toString())).to.deep.equal(['new']);
    expect(kernel.sent).to.have.length(2);
    expect(kernel.sent[1]!.seq).to.not.equal(kernel.sent[0]!.seq);
  });

  it('rejects a dump whose NLMSG_DONE carries an error', async function () {
    kernel.onRequest = (req) => kernel.reply(FakeKernel.done(req, NLM_F_MULTI, -95));
    const err = await rejection(sock.request(18, NLM_F_DUMP, Buffer.alloc(16)));
    expect(err.code).to.equal('EOPNOTSUPP');
  });

  it('matches out-of-order replies of requests in flight by sequence number', async function () {
    const held: NetlinkMessage[] = [];
    kernel.onRequest = (req) => {
      held.push(req);
      if (held.length === 3) {
        for (const r of [...held].reverse()) kernel.reply(part(r, `reply-${r.payload.toString()}`, 0), FakeKernel.ack(r));
      }
    };
    const results = await Promise.all(['x', 'y', 'z'].map((s) => sock.request(18, 0, Buffer.from(s))));
    expect(results.map((r) => r[0]!.payload.toString())).to.deep.equal(['reply-x', 'reply-y', 'reply-z']);
  });

  it('times out a request nobody answers, and ignores a late reply', async function () {
    let late: NetlinkMessage | undefined;
    kernel.onRequest = (req) => {
      late = req;
    };
    const err = await rejection(sock.request(18, 0, Buffer.alloc(16), { timeoutMs: 30 }));
    expect(err.code).to.equal('ETIMEDOUT');
    kernel.reply(FakeKernel.ack(late!));
    kernel.onRequest = (req) => kernel.reply(FakeKernel.ack(req));
    expect(await sock.request(18, 0, Buffer.alloc(16))).to.deep.equal([]);
  });

  it('holds a ref on the loop only while requests are pending', async function () {
    let pendingReq: NetlinkMessage | undefined;
    kernel.onRequest = (req) => {
      pendingReq = req;
    };
    expect(kernel.refed).to.equal(false);
    const p = sock.request(18, 0, Buffer.alloc(16));
    expect(kernel.refed).to.equal(true);
    await new Promise((r) => setImmediate(r));
    kernel.reply(FakeKernel.ack(pendingReq!));
    await p;
    expect(kernel.refed).to.equal(false);
  });

  it('close() rejects pending requests and later ones', async function () {
    kernel.onRequest = () => undefined;
    const p = sock.request(18, 0, Buffer.alloc(16));
    sock.close();
    expect((await rejection(p)).code).to.equal('ECANCELED');
    expect(kernel.closed).to.equal(true);
    expect((await rejection(sock.request(18, 0, Buffer.alloc(16)))).code).to.equal('EBADF');
  });

  it('a socket error (ENOBUFS) fails the requests in flight', async function () {
    kernel.onRequest = () => kernel.socketError('ENOBUFS', 105);
    const err = await rejection(sock.request(18, NLM_F_DUMP, Buffer.alloc(16)));
    expect(err.code).to.equal('ENOBUFS');
  });

  it('a failed send rejects at once', async function () {
    kernel.sendError = Object.assign(new Error('x'), { code: 'EPERM', errno: 1, syscall: 'sendto' });
    expect((await rejection(sock.request(18, 0, Buffer.alloc(16)))).code).to.equal('EPERM');
  });

  it('passes messages with seq 0 to the notification listener', function () {
    const got: number[] = [];
    sock.onNotification((m) => got.push(m.type));
    kernel.reply({ type: 16, flags: 0, seq: 0, pid: 0, payload: Buffer.alloc(16) });
    kernel.reply({ type: 16, flags: 0, seq: 999, pid: 0, payload: Buffer.alloc(16) });
    expect(got).to.deep.equal([16]);
  });

  it('passes notifications caused by another socket\'s request (its seq and port id) to the listener', function () {
    const got: number[] = [];
    sock.onNotification((m) => got.push(m.seq));
    kernel.reply({ type: 16, flags: 0, seq: 7, pid: sock.portId + 1, payload: Buffer.alloc(16) });
    kernel.reply({ type: 16, flags: 0, seq: 8, pid: sock.portId, payload: Buffer.alloc(16) });
    expect(got).to.deep.equal([7]);
  });
});
