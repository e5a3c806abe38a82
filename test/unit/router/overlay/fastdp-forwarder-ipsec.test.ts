// The IPsec steps of one fastdp connection (weave-reference §5.7) against a recording FastdpIpsec:
// the kernel part runs for real only where ESP exists (test/odp/ipsec-odp.test.ts in the guest).
import { expect } from 'chai';
import { silentLogger } from '../../../../common/logger.ts';
import type { FastdpIpsec, IpsecEndpoints } from '../../../../datapath/ipsec/contract.ts';
import { FastdpForwarder } from '../../../../router/overlay/fastdp-forwarder.ts';
import { decodeInitSaRemote, deriveIpsecKey, encodeInitSaRemote, FASTDP_CRYPTO_INIT_SA_REMOTE } from '../../../../router/overlay/fastdp-ipsec-message.ts';
import { FakeFastPath } from './fake-fast-path.ts';

const US = '02:00:00:00:00:01';
const REMOTE = '02:00:00:00:00:02';
const sessionKey = Buffer.alloc(32, 7);
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

class RecordingIpsec implements FastdpIpsec {
  readonly calls: string[] = [];
  readonly keys: Buffer[] = [];
  failOutbound: Error | undefined;
  start(): Promise<void> {
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  initInbound(e: IpsecEndpoints, key: Buffer): Promise<number> {
    this.calls.push(`in ${e.remote}->${e.local}`);
    this.keys.push(key);
    return Promise.resolve(0x1234);
  }
  initOutbound(e: IpsecEndpoints, spi: number, key: Buffer): Promise<void> {
    if (this.failOutbound) return Promise.reject(this.failOutbound);
    this.calls.push(`out ${e.local}->${e.remote} spi ${spi.toString(16)}`);
    this.keys.push(key);
    return Promise.resolve();
  }
  destroy(e: IpsecEndpoints, spis: { inbound?: number; outbound?: number }): Promise<void> {
    this.calls.push(`destroy in ${spis.inbound?.toString(16)} out ${spis.outbound?.toString(16)}`);
    return Promise.resolve();
  }
}

function fixture() {
  const f = { fp: new FakeFastPath(), ipsec: new RecordingIpsec(), control: [] as { tag: number; body: Buffer }[], fwd: undefined as unknown as FastdpForwarder };
  f.fwd = new FastdpForwarder({
    fastPath: f.fp,
    ourName: US,
    remotePeer: REMOTE,
    remoteIp: '198.18.0.2',
    connUid: 42n,
    sendControl: (tag, body) => f.control.push({ tag, body: Buffer.from(body) }),
    logger: silentLogger(),
    timing: { intervalMs: 1_000_000 },
    ipsec: { ops: f.ipsec, sessionKey, localIp: '198.18.0.1' },
  });
  return f;
}

describe('FastdpForwarder with IPsec', function () {
  it('confirm: inbound SA keyed for us, CryptoInitSARemote with its SPI; no heartbeat before the outbound SA', async () => {
    const f = fixture();
    await f.fp.addPeer(REMOTE, '198.18.0.2');
    f.fwd.confirm();
    await tick();
    expect(f.ipsec.calls).to.deep.equal(['in 198.18.0.2->198.18.0.1']);
    expect(f.control).to.have.length(1);
    expect(f.control[0]!.tag).to.equal(FASTDP_CRYPTO_INIT_SA_REMOTE);
    const msg = decodeInitSaRemote(f.control[0]!.body);
    expect(msg.spi).to.equal(0x1234);
    expect(f.ipsec.keys[0]).to.deep.equal(deriveIpsecKey(sessionKey, msg.nonce, US));
    expect(f.fp.sent, 'heartbeats').to.have.length(0);
    expect(f.fwd.reason()).to.equal("setting up IPsec (waiting for the peer's SPI)");

    const nonce = Buffer.alloc(32, 9);
    f.fwd.controlMessage(FASTDP_CRYPTO_INIT_SA_REMOTE, encodeInitSaRemote({ nonce, spi: 0xbeef }));
    await tick();
    expect(f.ipsec.calls[1]).to.equal('out 198.18.0.1->198.18.0.2 spi beef');
    expect(f.ipsec.keys[1]).to.deep.equal(deriveIpsecKey(sessionKey, nonce, REMOTE));
    expect(f.fp.sent.length, 'heartbeats once the outbound SA exists').to.be.greaterThan(0);
    expect(f.fwd.encrypted).to.equal(true);

    f.fwd.stop();
    await tick();
    expect(f.ipsec.calls.at(-1)).to.equal('destroy in 1234 out beef');
  });

  it('the peer\'s message may come before confirm(); heartbeats then start at confirm', async () => {
    const f = fixture();
    await f.fp.addPeer(REMOTE, '198.18.0.2');
    f.fwd.controlMessage(FASTDP_CRYPTO_INIT_SA_REMOTE, encodeInitSaRemote({ nonce: Buffer.alloc(32, 1), spi: 0x777 }));
    await tick();
    expect(f.fp.sent).to.have.length(0);
    f.fwd.confirm();
    await tick();
    expect(f.fp.sent.length).to.be.greaterThan(0);
    f.fwd.stop();
  });

  it('an SA failure keeps the connection off fastdp with the reason; a malformed message too', async () => {
    const f = fixture();
    await f.fp.addPeer(REMOTE, '198.18.0.2');
    f.ipsec.failOutbound = new Error('xfrm add SA: EINVAL');
    f.fwd.confirm();
    f.fwd.controlMessage(FASTDP_CRYPTO_INIT_SA_REMOTE, encodeInitSaRemote({ nonce: Buffer.alloc(32, 1), spi: 0x777 }));
    await tick();
    expect(f.fwd.reason()).to.equal('IPsec: outbound SA: xfrm add SA: EINVAL');
    expect(f.fwd.healthy).to.equal(false);
    expect(f.fp.sent).to.have.length(0);
    f.fwd.stop();

    const g = fixture();
    g.fwd.confirm();
    g.fwd.controlMessage(FASTDP_CRYPTO_INIT_SA_REMOTE, Buffer.alloc(36));
    await tick();
    expect(g.fwd.reason()).to.match(/^IPsec: outbound SA: CryptoInitSARemote: invalid payload size 36/);
    g.fwd.stop();
  });
});
