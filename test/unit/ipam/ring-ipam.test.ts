import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../common/logger.ts';
import { RingIpam } from '../../../ipam/ring-ipam.ts';
import { formatIpamOwners, formatIpamService } from '../../../cli/ipam-commands.ts';
import { SimNetwork } from './sim-network.ts';

const NAMES = ['0a:00:00:00:00:01', '0a:00:00:00:00:02'];

describe('ipam/RingIpam (the plugin contract over the ring)', function () {
  this.timeout(20000);
  let dir: string;
  let net: SimNetwork;
  let ipams: RingIpam[] = [];

  async function make(i: number): Promise<RingIpam> {
    const ipam = new RingIpam({
      dataDir: join(dir, `h${i}`),
      logger: silentLogger(),
      init: { mode: 'seed', peers: NAMES },
      mesh: () => net.mesh(NAMES[i]!, `host${i + 1}`),
      waitMs: 3000,
    });
    await ipam.start();
    ipams.push(ipam);
    return ipam;
  }
  const pool = (ipam: RingIpam, subnet: string, subPool?: string) => ipam.requestPool({ pool: subnet, ...(subPool ? { subPool } : {}), options: {}, v6: false });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weave-ringipam-'));
    net = new SimNetwork();
    ipams = [];
  });
  afterEach(async () => {
    for (const i of ipams) await i.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('the same subnet on two hosts gives distinct addresses, a fresh one per request', async () => {
    const [a, b] = [await make(0), await make(1)];
    const pa = await pool(a, '10.32.0.0/16');
    const pb = await pool(b, '10.32.0.0/16');
    const got = [];
    for (let k = 0; k < 5; k++) {
      got.push(await a.requestAddress({ poolId: pa.poolId, options: {} }));
      got.push(await b.requestAddress({ poolId: pb.poolId, options: {} }));
    }
    expect(new Set(got).size).to.equal(10);
    for (const g of got) expect(g).to.match(/^10\.32\.\d+\.\d+\/16$/);
    expect(a.status().pools[0]!.allocated).to.equal(5);
  });

  it('an explicit address in space another host owns is claimed from it; one in use is refused', async () => {
    const [a, b] = [await make(0), await make(1)];
    const pa = await pool(a, '10.32.0.0/16');
    const pb = await pool(b, '10.32.0.0/16');
    const first = await a.requestAddress({ poolId: pa.poolId, options: {} });
    // 10.40.0.0/13 is host2's share; host1 asks for an address there
    const p2a = await pool(a, '10.40.0.0/24');
    expect(await a.requestAddress({ poolId: p2a.poolId, address: '10.40.0.7', options: {} })).to.equal('10.40.0.7/24');
    let msg = '';
    const t0 = Date.now();
    await b.requestAddress({ poolId: pb.poolId, address: first.split('/')[0]!, options: {} }).catch((e: Error) => (msg = e.message));
    expect(msg).to.equal(`address ${first.split('/')[0]} is already in use on peer ${NAMES[0]}(host1)`);
    expect(Date.now() - t0, 'refused at once, not at the end of the wait').to.be.below(1000);
  });

  it('releasing addresses and pools gives the space back', async () => {
    const a = await make(0);
    const p = await pool(a, '10.32.0.0/16');
    const x = await a.requestAddress({ poolId: p.poolId, options: {} });
    await a.releaseAddress(p.poolId, x);
    expect(await a.requestAddress({ poolId: p.poolId, options: {} })).to.equal(x);
    await a.releasePool(p.poolId);
    expect(a.status().ring!.ActiveIPs).to.equal(0);
  });

  it('subnets outside the range allocate per host; overlapping the range is refused', async () => {
    const a = await make(0);
    const p = await pool(a, '192.168.7.0/24', '192.168.7.0/28');
    expect(await a.requestAddress({ poolId: p.poolId, options: {} })).to.equal('192.168.7.1/24');
    expect(a.status().ring!.ActiveIPs).to.equal(0);
    let msg = '';
    await pool(a, '10.0.0.0/8').catch((e: Error) => (msg = e.message));
    expect(msg).to.match(/overlaps the IPAM range 10\.32\.0\.0\/12 but does not lie inside it/);
  });

  it("weave status ipam prints one line per owner in Weave's format", async () => {
    const a = await make(0);
    await make(1);
    const p = await pool(a, '10.32.0.0/16');
    await a.requestAddress({ poolId: p.poolId, options: {} });
    expect(formatIpamOwners(a.status().ring!)).to.equal(
      [`${NAMES[0]}(host1)`.padEnd(37) + '   524288 IPs (50.0% of total) (1 active)', `${NAMES[1]}(host2)`.padEnd(37) + '   524288 IPs (50.0% of total)'].join('\n'),
    );
  });

  it("weave status shows the ipam service, and while waiting, why", async () => {
    const lone = new RingIpam({ dataDir: join(dir, 'lone'), logger: silentLogger(), init: { mode: 'consensus', count: 3 }, mesh: () => net.mesh(NAMES[0]!, 'host1'), waitMs: 1500 });
    await lone.start();
    ipams.push(lone);
    expect(formatIpamService(lone.status())).to.deep.equal(['         Service: ipam', '          Status: idle', '           Range: 10.32.0.0/12', '   DefaultSubnet: 10.32.0.0/16']);
    const p = await pool(lone, '10.32.0.0/16');
    const pending = lone.requestAddress({ poolId: p.poolId, options: {} }).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 200));
    expect(formatIpamService(lone.status()).slice(0, 3)).to.deep.equal([
      '         Service: ipam',
      '          Status: awaiting consensus (quorum: 2, known: 1)',
      `         Waiting: IPAM waiting for consensus: 1 of 3 peers known (quorum 2); peers: ${NAMES[0]}(host1)`,
    ]);
    expect(String(await pending)).to.match(/within 2s: IPAM waiting for consensus/);
  });
});
