import { expect } from 'chai';
import { silentLogger } from '../../../../common/logger.ts';
import { Backoff, MAX_RETRY_INTERVAL_MS } from '../../../../router/mesh/backoff.ts';
import { ConnectionMaker, parsePeerAddress } from '../../../../router/mesh/connection-maker.ts';
import type { DialOptions } from '../../../../router/mesh/connection-maker.ts';
import type { LocalIdentity, MeshConnection, PeerSummary } from '../../../../router/mesh/contract.ts';
import { ConnectToSelfError, DuplicateConnectionError } from '../../../../router/mesh/errors.ts';
import { LocalPeer } from '../../../../router/mesh/local-peer.ts';
import { Peers } from '../../../../router/mesh/peers.ts';
import { FakeClock } from './fake-clock.ts';
import { memoryConnectionPair } from './memory-connection.ts';

const A = '00:00:00:00:00:0a';
const M = '00:00:00:00:00:5a'; // ourselves, in the middle
const C = '00:00:00:00:00:0c';
const Y = '00:00:00:00:00:7f';
const Z = '00:00:00:00:00:8f';

const ident = (name: string): LocalIdentity => ({ name, nickname: name.slice(-2), uid: 1n, shortId: 1 });
const tick = () => new Promise((r) => setImmediate(r));

describe('mesh backoff', () => {
  it('waits a random time in [i/2, 3i/2), i from 2 s ×1.5 up to 6 min', () => {
    const clock = new FakeClock(0);
    const low = new Backoff(clock, () => 0);
    const high = new Backoff(clock, () => 0.999999);
    const lows: number[] = [];
    const highs: number[] = [];
    for (let n = 0; n < 14; n++) {
      low.retry();
      high.retry();
      lows.push(low.tryAfter);
      highs.push(high.tryAfter);
    }
    expect(lows.slice(0, 5)).to.deep.equal([1000, 1500, 2250, 3375, 5062.5]);
    expect(highs[0]).to.be.within(2999, 2999.999);
    expect(highs[1]).to.be.within(4499, 4499.999);
    expect(lows.at(-1)).to.equal(MAX_RETRY_INTERVAL_MS / 2);
    expect(low.interval).to.equal(MAX_RETRY_INTERVAL_MS);
  });

  it('resets after a connection that lived a minute past its try time', () => {
    const clock = new FakeClock(0);
    const b = new Backoff(clock, () => 0);
    b.retry();
    b.retry();
    clock.advance(b.tryAfter);
    clock.advance(59_999);
    b.connectionEnded();
    expect(b.interval, 'short-lived: keep backing off').to.equal(6750);
    clock.advance(b.tryAfter - clock.now() + 60_000);
    b.connectionEnded();
    expect([b.interval, b.tryAfter]).to.deep.equal([2000, clock.now()]);
    b.never();
    expect(b.tryAfter).to.equal(Infinity);
  });
});

describe('mesh connection maker', () => {
  let clock: FakeClock;
  let ourself: LocalPeer;
  let peers: Peers;
  let dials: { address: string; opts: DialOptions; resolve: (c: MeshConnection) => void; reject: (e: Error) => void }[];
  let persisted: string[][];
  let cm: ConnectionMaker;

  function make(opts: { discovery?: boolean } = {}): void {
    clock = new FakeClock(0);
    ourself = new LocalPeer(ident(M));
    peers = new Peers({ ourself, clock, logger: silentLogger() });
    dials = [];
    persisted = [];
    cm = new ConnectionMaker({
      ourself,
      peers,
      port: 6783,
      discovery: opts.discovery ?? true,
      clock,
      random: () => 0,
      logger: silentLogger(),
      discoveryDeferMs: 15_000,
      dial: (address, o) =>
        new Promise((resolve, reject) => {
          dials.push({ address, opts: o, resolve, reject });
        }),
      persist: async (t) => {
        persisted.push(t);
      },
    });
  }

  /** Register a connection as the router would. */
  function connect(remote: string, outbound: boolean, remoteAddr: string): MeshConnection {
    const [d, a] = memoryConnectionPair(outbound ? ident(M) : ident(remote), outbound ? ident(remote) : ident(M), {
      acceptorAddr: outbound ? remoteAddr : '10.0.0.99:6783',
      diallerAddr: outbound ? '10.0.0.99:41000' : remoteAddr,
    });
    const ours = outbound ? d : a;
    ourself.addConnection(ours, 0);
    return ours;
  }

  beforeEach(() => make());
  afterEach(() => {
    cm.stop();
    peers.stop();
  });

  it('parses addresses', () => {
    expect(parsePeerAddress('h1')).to.deep.equal({ host: 'h1' });
    expect(parsePeerAddress('10.1.1.1:7000')).to.deep.equal({ host: '10.1.1.1', port: 7000 });
    expect(parsePeerAddress('[fd00::1]:6783')).to.deep.equal({ host: 'fd00::1', port: 6783 });
    expect(parsePeerAddress('fd00::1')).to.deep.equal({ host: 'fd00::1' });
    expect(() => parsePeerAddress('h:0')).to.throw();
    expect(() => parsePeerAddress('')).to.throw();
  });

  it('dials direct targets at once, backs off after failures, reports states', async () => {
    const errors = cm.start(['10.0.0.2', '10.0.0.3:7000', 'h:0']);
    expect(errors.map((e) => e.message)).to.deep.equal(['invalid port in peer address: "h:0"']);
    expect(dials.map((d) => [d.address, d.opts.acceptNewPeer])).to.deep.include.members([
      ['10.0.0.2:6783', true],
      ['10.0.0.3:7000', true],
    ]);
    expect(cm.connectionStatuses().find((s) => s.address === '10.0.0.2:6783')?.state).to.equal('connecting');
    dials.find((d) => d.address === '10.0.0.2:6783')!.reject(new Error('connect: connection refused'));
    await tick();
    const row = cm.connectionStatuses().find((s) => s.address === '10.0.0.2:6783')!;
    expect(row.state).to.equal('failed');
    expect(row.info).to.equal(`connect: connection refused, retry: ${new Date(1000).toISOString()}`);
    const n = dials.length;
    clock.advance(999);
    expect(dials.length).to.equal(n);
    clock.advance(1);
    expect(dials.length).to.equal(n + 1);
    expect(dials.at(-1)!.address).to.equal('10.0.0.2:6783');
    expect(cm.connectionStatuses().find((s) => s.address === '10.0.0.2:6783')?.state).to.equal('retrying');
  });

  it('never retries a self-connection', async () => {
    cm.start(['10.0.0.2']);
    dials[0]!.reject(new ConnectToSelfError());
    await tick();
    clock.advance(24 * 3600_000);
    expect(dials.length).to.equal(1);
    expect(cm.connectionStatuses()[0]?.info).to.equal('cannot connect to ourself, retry: never');
  });

  it('a connected target is not shown; when its connection ends it is retried with backoff', async () => {
    cm.start(['10.0.0.2']);
    const conn = connect(C, true, '10.0.0.2:6783');
    dials[0]!.resolve(conn);
    await tick();
    expect(cm.connectionStatuses()).to.deep.equal([]);
    expect(cm.targetStatuses()[0]).to.include({ state: 'connected', peer: C });
    ourself.deleteConnection(conn);
    cm.connectionTerminated(conn, new Error('read: connection reset'));
    expect(cm.terminationCount).to.equal(1);
    expect(cm.connectionStatuses()[0]?.state).to.equal('failed');
    clock.advance(1000);
    expect(dials.length).to.equal(2);
  });

  it('connect/replace/forget update and persist the direct targets', async () => {
    cm.start(['h1']);
    cm.initiateConnections(['h2', 'h3:7000'], false);
    expect(cm.directTargets()).to.deep.equal(['h1', 'h2', 'h3:7000']);
    cm.initiateConnections(['h4'], true);
    expect(cm.directTargets()).to.deep.equal(['h4']);
    cm.forgetConnections(['h4']);
    await cm.flushed();
    expect(persisted).to.deep.equal([['h1'], ['h1', 'h2', 'h3:7000'], ['h4'], []]);
  });

  it('does not dial a port-less target that already connected to us', () => {
    connect(C, false, '10.0.0.2:45000');
    cm.start(['10.0.0.2', '10.0.0.3']);
    expect(dials.map((d) => d.address)).to.deep.equal(['10.0.0.3:6783']);
  });

  it('suspends a direct target whose peer reached us first instead of dialling a duplicate', async () => {
    cm.start(['10.0.0.2:6783']);
    dials[0]!.reject(new DuplicateConnectionError('already connected', C));
    connect(C, false, '10.0.0.2:45000');
    await tick();
    clock.advance(3600_000);
    expect(dials.length).to.equal(1);
    expect(cm.targetStatuses()[0]?.state).to.equal('suspended');
  });

  describe('discovery', () => {
    function learn(...summaries: PeerSummary[]): void {
      peers.applyUpdate(summaries);
      cm.refresh();
    }
    const s = (name: string, connections: PeerSummary['connections']): PeerSummary => ({
      name,
      nickname: name.slice(-2),
      uid: 5n,
      version: 1,
      shortId: 0,
      hasShortId: false,
      connections,
    });

    it('targets recorded addresses of outbound connections and ip:our-port of inbound ones', () => {
      cm.start();
      // Y (higher name than ours) dialled Z at 10.0.0.26:6783; Z got an inbound one from Y.
      learn(
        s(Y, [{ name: Z, remoteTcpAddr: '10.0.0.26:6783', outbound: true, established: true }]),
        s(Z, [{ name: Y, remoteTcpAddr: '10.0.0.25:39000', outbound: false, established: true }]),
      );
      expect(dials.map((d) => [d.address, d.opts.acceptNewPeer])).to.deep.equal([
        ['10.0.0.26:6783', false],
        ['10.0.0.25:6783', false],
      ]);
    });

    it('holds back from peers with lower names (they dial us), then dials if they do not', () => {
      cm.start();
      connect(Y, true, '10.0.0.25:6783');
      learn(s(Y, [{ name: A, remoteTcpAddr: '10.0.0.10:6783', outbound: true, established: true }]));
      expect(dials).to.deep.equal([]);
      expect(cm.connectionStatuses()[0]?.state).to.equal('waiting');
      clock.advance(15_000);
      expect(dials.map((d) => d.address)).to.deep.equal(['10.0.0.10:6783']);
    });

    it('forgets a discovered target once its peer is connected', () => {
      cm.start();
      learn(s(Y, [{ name: A, remoteTcpAddr: '10.0.0.10:6783', outbound: true, established: true }]));
      connect(A, false, '10.0.0.10:50000');
      cm.refresh();
      expect(cm.targetStatuses()).to.deep.equal([]);
      clock.advance(60_000);
      expect(dials).to.deep.equal([]);
    });

    it('does nothing when disabled', () => {
      make({ discovery: false });
      cm.start();
      learn(s(Y, [{ name: Z, remoteTcpAddr: '10.0.0.26:6783', outbound: true, established: true }]));
      clock.advance(60_000);
      expect(dials).to.deep.equal([]);
    });
  });
});
