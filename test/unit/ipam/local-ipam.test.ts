import { expect } from 'chai';
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../common/logger.ts';
import { LocalIpam, type LocalIpamOptions } from '../../../ipam/local-ipam.ts';

const STATE = 'local-ipam.json';

describe('ipam/LocalIpam', () => {
  let dir: string;
  let ipam: LocalIpam;

  async function make(opts: Partial<LocalIpamOptions> = {}): Promise<LocalIpam> {
    const i = new LocalIpam({ dataDir: dir, logger: silentLogger(), ...opts });
    await i.start();
    return i;
  }
  const auto = () => ipam.requestPool({ options: {}, v6: false });
  const explicit = (pool: string, subPool?: string) => ipam.requestPool({ pool, ...(subPool ? { subPool } : {}), options: {}, v6: false });
  const addr = (poolId: string, address?: string) => ipam.requestAddress({ poolId, ...(address ? { address } : {}), options: {} });
  const poolStatus = (poolId: string) => ipam.status().pools.find((p) => p.poolId === poolId);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weave-ipam-'));
    ipam = await make();
  });
  afterEach(async () => {
    await ipam.stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe('pools', () => {
    it('reports its address spaces', () => {
      expect(ipam.defaultAddressSpaces()).to.deep.equal({ local: 'weavelocal', global: 'weaveglobal' });
    });

    it('hands out the first free /24 of the range outside the default subnet, with the network address as gateway', async () => {
      const g = await auto();
      expect(g).to.deep.equal({ poolId: 'weave/10.33.0.0/24', pool: '10.33.0.0/24', data: { 'com.docker.network.gateway': '10.33.0.0/24' } });
    });

    it('answers each repeated empty request with a different pool (Docker overlap loop), reusing released ones', async () => {
      const a = await auto();
      const b = await auto();
      const c = await auto();
      expect([a.pool, b.pool, c.pool]).to.deep.equal(['10.33.0.0/24', '10.33.1.0/24', '10.33.2.0/24']);
      // Docker keeps c and releases the ones it rejected
      await ipam.releasePool(a.poolId);
      await ipam.releasePool(b.poolId);
      expect((await auto()).pool).to.equal('10.33.0.0/24');
      expect(ipam.status().pools.map((p) => p.subnet)).to.have.members(['10.33.0.0/24', '10.33.2.0/24']);
    });

    it('skips explicit pools that lie in the range', async () => {
      await explicit('10.33.0.0/23');
      expect((await auto()).pool).to.equal('10.33.2.0/24');
    });

    it('errors when the range is exhausted', async () => {
      await ipam.stop();
      ipam = await make({ range: '10.0.0.0/22', defaultSubnet: '10.0.0.0/23' });
      expect((await auto()).pool).to.equal('10.0.2.0/24');
      expect((await auto()).pool).to.equal('10.0.3.0/24');
      await expectReject(auto(), /no free \/24 subnet left in IPAM range 10\.0\.0\.0\/22/);
    });

    it('honours an explicit pool anywhere, with a stable id', async () => {
      const def = await explicit('10.32.0.0/16');
      expect(def).to.deep.equal({ poolId: 'weave/10.32.0.0/16', pool: '10.32.0.0/16', data: { 'com.docker.network.gateway': '10.32.0.0/16' } });
      const out = await explicit('192.168.7.0/24');
      expect(out.poolId).to.equal('weave/192.168.7.0/24');
    });

    it('reference-counts identical requests', async () => {
      const a = await explicit('10.40.0.0/24');
      const b = await explicit('10.40.0.0/24');
      expect(b.poolId).to.equal(a.poolId);
      expect(poolStatus(a.poolId)?.refs).to.equal(2);
      await ipam.releasePool(a.poolId);
      expect(poolStatus(a.poolId)?.refs).to.equal(1);
      await ipam.releasePool(a.poolId);
      expect(poolStatus(a.poolId)).to.equal(undefined);
    });

    it('refuses an explicit pool overlapping an existing one', async () => {
      await explicit('10.40.0.0/16');
      await expectReject(explicit('10.40.3.0/24'), /10\.40\.3\.0\/24 overlaps with subnet 10\.40\.0\.0\/16/);
      await expectReject(explicit('10.0.0.0/8'), /overlaps/);
      const a = await auto();
      await expectReject(explicit('10.33.0.0/25'), /10\.33\.0\.0\/25 overlaps with subnet 10\.33\.0\.0\/24 already in use \(pool weave\/10\.33\.0\.0\/24\)/);
      expect(poolStatus(a.poolId)?.refs).to.equal(1);
    });

    it('refuses a different sub-pool of a pool in use', async () => {
      await explicit('10.40.0.0/24', '10.40.0.0/25');
      await expectReject(explicit('10.40.0.0/24', '10.40.0.128/25'), /overlaps/);
      await expectReject(explicit('10.40.0.0/24'), /overlaps/);
    });

    it('validates sub-pools and pool syntax', async () => {
      await expectReject(ipam.requestPool({ subPool: '10.40.0.0/25', options: {}, v6: false }), /needs a subnet/);
      await expectReject(explicit('10.40.0.0/24', '10.41.0.0/25'), /IP range 10\.41\.0\.0\/25 is not inside subnet 10\.40\.0\.0\/24/);
      await expectReject(explicit('10.40.0.0/24', '10.40.0.0/23'), /not inside/);
      await expectReject(explicit('10.40.0.5/24'), /host bits set/);
      await expectReject(explicit('10.40.0.0/31'), /too small/);
      await expectReject(explicit('banana'), /invalid CIDR/);
      expect(ipam.status().pools).to.deep.equal([]);
    });

    it('refuses IPv6', async () => {
      await expectReject(ipam.requestPool({ options: {}, v6: true }), /IPv6 is not supported yet/);
      await expectReject(ipam.requestPool({ pool: 'fd00::/64', options: {}, v6: true }), /IPv6 is not supported yet/);
    });

    it('treats releasing an unknown pool as done', async () => {
      await ipam.releasePool('weave/10.99.0.0/24');
      await ipam.releasePool('nonsense');
    });

    it('refuses a range smaller than one /24', () => {
      expect(() => new LocalIpam({ dataDir: dir, logger: silentLogger(), range: '10.0.0.0/25' })).to.throw(/smaller than one \/24/);
    });
  });

  describe('addresses', () => {
    it('hands out the lowest free host address with the pool prefix length', async () => {
      const { poolId } = await explicit('10.32.0.0/16');
      expect(await addr(poolId)).to.equal('10.32.0.1/16');
      expect(await addr(poolId)).to.equal('10.32.0.2/16');
      expect(await addr(poolId)).to.equal('10.32.0.3/16');
      await ipam.releaseAddress(poolId, '10.32.0.2');
      expect(await addr(poolId)).to.equal('10.32.0.2/16');
      expect(poolStatus(poolId)?.addresses).to.deep.equal(['10.32.0.1', '10.32.0.2', '10.32.0.3']);
    });

    it('never hands out the network or broadcast address and errors when full', async () => {
      const { poolId } = await explicit('10.40.0.0/30');
      expect(await addr(poolId)).to.equal('10.40.0.1/30');
      expect(await addr(poolId)).to.equal('10.40.0.2/30');
      await expectReject(addr(poolId), /no free address left in 10\.40\.0\.0\/30/);
      expect(poolStatus(poolId)).to.include({ allocated: 2, free: 0 });
    });

    it('allocates from the sub-pool (--ip-range) and answers with the pool prefix', async () => {
      const { poolId } = await explicit('10.40.0.0/24', '10.40.0.128/25');
      expect(await addr(poolId)).to.equal('10.40.0.128/24');
      expect(poolStatus(poolId)).to.include({ subnet: '10.40.0.0/24', range: '10.40.0.128/25', allocated: 1, free: 126 });
      for (let i = 0; i < 126; i += 1) await addr(poolId);
      await expectReject(addr(poolId), /no free address left in 10\.40\.0\.128\/25/);
      expect(poolStatus(poolId)?.addresses).to.not.include('10.40.0.255');
    });

    it('skips the network address when the sub-pool starts at it', async () => {
      const { poolId } = await explicit('10.40.0.0/24', '10.40.0.0/25');
      expect(await addr(poolId)).to.equal('10.40.0.1/24');
    });

    it('gives an exact address (--ip, --gateway) when it is in the pool and free', async () => {
      const { poolId } = await explicit('10.40.0.0/24', '10.40.0.128/25');
      expect(await ipam.requestAddress({ poolId, address: '10.40.0.254', options: { RequestAddressType: 'com.docker.network.gateway' } })).to.equal('10.40.0.254/24');
      // outside the sub-pool but inside the subnet: static addresses kept out of the dynamic range
      expect(await addr(poolId, '10.40.0.10')).to.equal('10.40.0.10/24');
      await expectReject(addr(poolId, '10.40.0.10'), /10\.40\.0\.10 is already in use in 10\.40\.0\.0\/24/);
      await expectReject(addr(poolId, '10.41.0.10'), /not in subnet 10\.40\.0\.0\/24/);
      await expectReject(addr(poolId, '10.40.0.0'), /network address/);
      await expectReject(addr(poolId, '10.40.0.255'), /broadcast address/);
      await expectReject(addr(poolId, '10.40.0.300'), /invalid IPv4 address/);
      expect(poolStatus(poolId)?.addresses).to.deep.equal(['10.40.0.10', '10.40.0.254']);
    });

    it('skips exactly requested addresses when picking the lowest free one', async () => {
      const { poolId } = await explicit('10.40.0.0/24');
      await addr(poolId, '10.40.0.1');
      await addr(poolId, '10.40.0.3');
      expect(await addr(poolId)).to.equal('10.40.0.2/24');
      expect(await addr(poolId)).to.equal('10.40.0.4/24');
    });

    it('refuses addresses from unknown pools', async () => {
      await expectReject(addr('weave/10.99.0.0/24'), /unknown address pool "weave\/10\.99\.0\.0\/24"/);
    });

    it('treats releasing unknown addresses, unknown pools and the placeholder gateway as done', async () => {
      const { poolId } = await explicit('10.40.0.0/24');
      await addr(poolId);
      const before = await readFile(join(dir, STATE), 'utf8');
      await ipam.releaseAddress(poolId, '10.40.0.0');
      await ipam.releaseAddress(poolId, '10.40.0.77');
      await ipam.releaseAddress('weave/10.99.0.0/24', '10.99.0.1');
      await ipam.releaseAddress(poolId, '10.40.0.1');
      await ipam.releaseAddress(poolId, '10.40.0.1');
      expect(poolStatus(poolId)?.addresses).to.deep.equal([]);
      expect(await readFile(join(dir, STATE), 'utf8')).to.not.equal(before);
    });

    it('releases the addresses of a released pool', async () => {
      const { poolId } = await explicit('10.40.0.0/24');
      await addr(poolId);
      await addr(poolId);
      await ipam.releasePool(poolId);
      await explicit('10.40.0.0/24');
      expect(poolStatus(poolId)?.addresses).to.deep.equal([]);
      expect(await addr(poolId)).to.equal('10.40.0.1/24');
    });

    it('hands out distinct addresses to concurrent requests', async () => {
      const { poolId } = await explicit('10.40.0.0/24');
      const got = await Promise.all(Array.from({ length: 20 }, () => addr(poolId)));
      expect(new Set(got).size).to.equal(20);
      expect(got).to.include('10.40.0.20/24');
    });
  });

  describe('persistence', () => {
    it('survives a new instance on the same directory', async () => {
      const def = await explicit('10.32.0.0/16');
      const sub = await explicit('10.50.0.0/24', '10.50.0.64/26');
      const a = await auto();
      await addr(def.poolId);
      await addr(def.poolId, '10.32.9.9');
      await addr(sub.poolId);
      const before = ipam.status();
      // no stop(): as after kill -9
      const again = await make();
      expect(again.status()).to.deep.equal(before);
      expect(await again.requestAddress({ poolId: def.poolId, options: {} })).to.equal('10.32.0.2/16');
      expect(await again.requestAddress({ poolId: sub.poolId, options: {} })).to.equal('10.50.0.65/24');
      const next = await again.requestPool({ options: {}, v6: false });
      expect(next.pool).to.not.equal(a.pool);
      await expectReject(again.requestPool({ pool: '10.32.0.0/24', options: {}, v6: false }), /overlaps/);
      await again.stop();
    });

    it('keeps existing pools when restarted with another range, and carves new ones from the new range', async () => {
      const old = await auto();
      await addr(old.poolId);
      const moved = await make({ range: '10.128.0.0/16', defaultSubnet: '10.128.0.0/24' });
      expect(moved.status().range).to.equal('10.128.0.0/16');
      expect(moved.status().pools.map((p) => p.poolId)).to.deep.equal([old.poolId]);
      expect((await moved.requestPool({ options: {}, v6: false })).pool).to.equal('10.128.1.0/24');
      expect(await moved.requestAddress({ poolId: old.poolId, options: {} })).to.equal('10.33.0.2/24');
      await moved.stop();
    });

    it('leaves memory and disk unchanged when a request fails', async () => {
      const { poolId } = await explicit('10.40.0.0/24');
      await addr(poolId);
      const file = await readFile(join(dir, STATE), 'utf8');
      const status = ipam.status();
      await expectReject(addr(poolId, '10.40.0.1'), /in use/);
      await expectReject(explicit('10.40.0.0/16'), /overlaps/);
      await expectReject(ipam.requestPool({ options: {}, v6: true }), /IPv6/);
      expect(await readFile(join(dir, STATE), 'utf8')).to.equal(file);
      expect(ipam.status()).to.deep.equal(status);
    });

    it('leaves memory unchanged when the state cannot be written', async () => {
      const { poolId } = await explicit('10.40.0.0/24');
      await rm(join(dir, STATE));
      // a directory in the file's place makes the atomic rename fail
      await mkdir(join(dir, STATE, 'x'), { recursive: true });
      const status = ipam.status();
      await expectReject(addr(poolId), /./);
      await expectReject(auto(), /./);
      expect(ipam.status()).to.deep.equal(status);
      await rmdir(join(dir, STATE, 'x'));
      await rmdir(join(dir, STATE));
      expect(await addr(poolId)).to.equal('10.40.0.1/24');
    });

    it('refuses to start on a corrupt state file', async () => {
      await writeFile(join(dir, STATE), '{"version":1,"pools":"nope"}');
      const broken = new LocalIpam({ dataDir: dir, logger: silentLogger() });
      await expectReject(broken.start(), /IPAM state .* is not valid/);
      await writeFile(join(dir, STATE), '{not json');
      await expectReject(broken.start(), /cannot read IPAM state/);
    });

    it('refuses requests before start', async () => {
      const cold = new LocalIpam({ dataDir: dir, logger: silentLogger() });
      await expectReject(cold.requestPool({ options: {}, v6: false }), /not started/);
    });
  });
});

async function expectReject(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  let error: unknown;
  try {
    await p;
  } catch (err) {
    error = err;
  }
  expect(error, `expected a rejection matching ${pattern}`).to.be.instanceOf(Error);
  expect((error as Error).message).to.match(pattern);
}
