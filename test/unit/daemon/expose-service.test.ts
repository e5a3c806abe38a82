// `weave expose`/`hide` without a kernel: the service takes the address from a real LocalIpam,
// builds the host port on a FakeDatapath, keeps its records across restarts, and undoes a failed
// expose completely.
import { expect } from 'chai';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../common/logger.ts';
import type { ExposeNames } from '../../../daemon/expose-contract.ts';
import { ExposeRequestError } from '../../../daemon/expose-error.ts';
import { EXPOSE_CONTAINER, ExposeService, type ExposeServiceOptions } from '../../../daemon/expose-service.ts';
import { LocalIpam } from '../../../ipam/local-ipam.ts';
import { FakeDatapath } from '../plugin/fake-datapath.ts';

const DEFAULT_SUBNET = '10.32.0.0/16';
const PORT = 'vethwex0a200000';
const HOST_END = 'weavex0a200000';

/** weaveDNS's registration calls, with its rule for names. */
class FakeNames implements ExposeNames {
  readonly entries: { containerId: string; ip: string; name: string }[] = [];
  qualify(name: string): string {
    if (!/^[a-z0-9.-]+$/i.test(name)) throw new Error(`not a valid host name: ${JSON.stringify(name)}`);
    return `${name}.weave.local.`;
  }
  add(containerId: string, ip: string, name: string): void {
    this.qualify(name);
    if (!this.entries.some((e) => e.containerId === containerId && e.ip === ip && e.name === name)) this.entries.push({ containerId, ip, name });
  }
  remove(match: { containerId?: string; ip?: string }): void {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      if ((match.containerId === undefined || e.containerId === match.containerId) && (match.ip === undefined || e.ip === match.ip)) this.entries.splice(i, 1);
    }
  }
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err as Error,
  );
}

describe('daemon/ExposeService', () => {
  let dir: string;
  let ipam: LocalIpam;
  let datapath: FakeDatapath;
  let names: FakeNames;
  let service: ExposeService;
  /** At each refresh: the host ports the policy would hold, and whether their links existed. */
  let refreshes: { ports: string[]; linked: boolean[] }[];
  let defaultPool: string;

  const make = (extra: Partial<ExposeServiceOptions> = {}): ExposeService => {
    const s: ExposeService = new ExposeService({
      dataDir: dir,
      datapath,
      ipam,
      isolation: {
        refreshIsolation: async () => {
          const ports = s.hostPorts().map((p) => p.port);
          refreshes.push({ ports, linked: ports.map((p) => datapath.links.has(p)) });
        },
      },
      names,
      bridgeName: 'weave',
      mtu: 1376,
      defaultSubnet: DEFAULT_SUBNET,
      hostname: 'host1',
      logger: silentLogger(),
      ...extra,
    });
    return s;
  };
  const addresses = (poolId: string): string[] => ipam.status().pools.find((p) => p.poolId === poolId)?.addresses ?? [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weave-expose-'));
    ipam = new LocalIpam({ dataDir: dir, logger: silentLogger() });
    await ipam.start();
    defaultPool = (await ipam.requestPool({ pool: DEFAULT_SUBNET, options: {}, v6: false })).poolId;
    datapath = new FakeDatapath('weave');
    names = new FakeNames();
    refreshes = [];
    service = make();
    await service.start();
  });
  afterEach(async () => {
    await service.stop();
    await ipam.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('exposes the default network by default: an address from IPAM on a host port of its own, covered by the isolation before the link exists, named in DNS', async () => {
    const [exposed] = await service.expose([]);
    expect(exposed).to.deep.equal({ cidr: DEFAULT_SUBNET, address: '10.32.0.1/16', interface: HOST_END, port: PORT, name: 'host1' });
    expect(addresses(defaultPool)).to.deep.equal(['10.32.0.1']);
    expect(datapath.callsOf('ensureHostPort')).to.deep.equal([[{ bridge: 'weave', port: PORT, hostName: HOST_END, mtu: 1376, cidr: '10.32.0.1/16' }]]);
    expect([...(datapath.addresses.get(HOST_END) ?? [])]).to.deep.equal(['10.32.0.1/16']);
    expect(datapath.links.get(PORT)?.masterIndex).to.equal(datapath.links.get('weave')?.index);
    expect(refreshes.at(-1)).to.deep.equal({ ports: [PORT], linked: [false] });
    expect(names.entries).to.deep.equal([{ containerId: EXPOSE_CONTAINER, ip: '10.32.0.1', name: 'host1' }]);
    expect(service.reservedAddresses()).to.deep.equal(['10.32.0.1/16']);
    expect(service.hostPorts()).to.deep.equal([{ subnet: DEFAULT_SUBNET, port: PORT }]);
    const onDisk = JSON.parse(await readFile(join(dir, 'expose.json'), 'utf8')) as unknown;
    expect(onDisk).to.deep.equal({ version: 1, exposed: [{ subnet: DEFAULT_SUBNET, poolId: defaultPool, address: '10.32.0.1/16', name: 'host1' }] });
  });

  it('is idempotent: the same network again gives the same address, and repairs a link that went missing', async () => {
    const first = await service.expose(['10.32.0.0/16']);
    datapath.links.delete(PORT);
    datapath.links.delete(HOST_END);
    const again = await service.expose(['net:default']);
    expect(again).to.deep.equal(first);
    expect(addresses(defaultPool)).to.deep.equal(['10.32.0.1']);
    expect(datapath.links.has(HOST_END)).to.equal(true);
  });

  it('takes an exact address when given one, exposes several networks at once, and moves the name on -h', async () => {
    const other = (await ipam.requestPool({ pool: '10.44.0.0/24', options: {}, v6: false })).poolId;
    const got = await service.expose(['ip:10.32.0.9/16', '10.44.0.0/24'], 'gateway');
    expect(got.map((e) => e.address)).to.deep.equal(['10.32.0.9/16', '10.44.0.1/24']);
    expect(got[1]!.interface).to.equal('weavex0a2c0000');
    expect(addresses(other)).to.deep.equal(['10.44.0.1']);
    expect(names.entries.map((e) => `${e.name} ${e.ip}`)).to.deep.equal(['gateway 10.32.0.9', 'gateway 10.44.0.1']);
    await service.expose(['10.32.0.9/16'], 'router');
    expect(names.entries.map((e) => `${e.name} ${e.ip}`)).to.deep.equal(['gateway 10.44.0.1', 'router 10.32.0.9']);
    // without -h an existing expose keeps its name
    await service.expose([]);
    expect(service.list()[0]!.name).to.equal('router');
  });

  it('refuses, with a clear message and no allocation, what it cannot do', async () => {
    const cases: [Promise<unknown>, RegExp, number][] = [
      [service.expose(['10.99.0.0/24']), /^no weave network with subnet 10\.99\.0\.0\/24 on this host$/, 404],
      [service.expose(['banana']), /^"banana" is not a subnet or an address \(invalid CIDR "banana": missing \/prefix\); give a subnet/, 400],
      [service.expose(['net:10.32.0.7/16']), /host bits set \(did you mean net:10\.32\.0\.0\/16\?\)/, 400],
      [service.expose(['10.32.0.0/31']), /no room for a host address/, 400],
      [service.expose(['10.32.0.0/16', 'net:default']), /10\.32\.0\.0\/16 is named twice/, 400],
      [service.expose([], 'bad name!'), /not a valid host name/, 400],
    ];
    for (const [p, message, status] of cases) {
      const err = await rejection(p);
      expect(err, err.message).to.be.instanceOf(ExposeRequestError);
      expect(err.message).to.match(message);
      expect((err as ExposeRequestError).status).to.equal(status);
    }
    expect(addresses(defaultPool)).to.deep.equal([]);
    await service.expose(['10.32.0.5/16']);
    const conflict = await rejection(service.expose(['10.32.0.6/16']));
    expect(conflict.message).to.equal('this host already has 10.32.0.5/16 on 10.32.0.0/16; hide it first');
    expect((conflict as ExposeRequestError).status).to.equal(409);
  });

  it('refuses -h when weaveDNS is off, and exposes without a name then', async () => {
    await service.stop();
    service = make({ names: undefined });
    await service.start();
    expect((await rejection(service.expose([], 'gw'))).message).to.match(/weaveDNS is off on this host/);
    expect((await service.expose([]))[0]).to.not.have.property('name');
  });

  it('hide takes the link, the record, the address and the name away, and is idempotent', async () => {
    await service.expose([]);
    const hidden = await service.hide([]);
    expect(hidden.map((e) => e.address)).to.deep.equal(['10.32.0.1/16']);
    expect(datapath.links.has(PORT)).to.equal(false);
    expect(datapath.links.has(HOST_END)).to.equal(false);
    expect(addresses(defaultPool)).to.deep.equal([]);
    expect(names.entries).to.deep.equal([]);
    expect(service.list()).to.deep.equal([]);
    expect(refreshes.at(-1)?.ports).to.deep.equal([]);
    expect(await service.hide(['10.32.0.0/16'])).to.deep.equal([]);
    expect(JSON.parse(await readFile(join(dir, 'expose.json'), 'utf8'))).to.deep.equal({ version: 1, exposed: [] });
  });

  it('undoes a failed expose completely: no link, no record, no address', async () => {
    datapath.failOn('ensureHostPort', new Error('Operation not permitted'));
    expect((await rejection(service.expose([]))).message).to.equal('Operation not permitted');
    expect(addresses(defaultPool)).to.deep.equal([]);
    expect(service.list()).to.deep.equal([]);
    expect(refreshes.at(-1)?.ports).to.deep.equal([]);
    expect(names.entries).to.deep.equal([]);
    datapath.clearFaults();
    expect((await service.expose([]))[0]!.address).to.equal('10.32.0.1/16');
  });

  it('after a restart (and a reboot that took the links) puts every exposed address back, with its name', async () => {
    await service.expose([], 'gw');
    await service.stop();
    await ipam.stop();
    ipam = new LocalIpam({ dataDir: dir, logger: silentLogger() });
    await ipam.start();
    datapath = new FakeDatapath('weave');
    names = new FakeNames();
    service = make();
    await service.start();
    expect([...(datapath.addresses.get(HOST_END) ?? [])]).to.deep.equal(['10.32.0.1/16']);
    expect(names.entries).to.deep.equal([{ containerId: EXPOSE_CONTAINER, ip: '10.32.0.1', name: 'gw' }]);
    expect(service.reservedAddresses()).to.deep.equal(['10.32.0.1/16']);
    expect(addresses(defaultPool)).to.deep.equal(['10.32.0.1']);
  });

  it('at start, claims again an address IPAM lost, and drops one whose network is gone', async () => {
    const other = (await ipam.requestPool({ pool: '10.44.0.0/24', options: {}, v6: false })).poolId;
    await service.expose(['10.32.0.0/16', '10.44.0.0/24']);
    await service.stop();
    await ipam.releaseAddress(defaultPool, '10.32.0.1');
    await ipam.releasePool(other);
    service = make();
    await service.start();
    expect(service.list().map((e) => e.address)).to.deep.equal(['10.32.0.1/16']);
    expect(addresses(defaultPool)).to.deep.equal(['10.32.0.1']);
    expect(datapath.links.has('vethwex0a2c0000')).to.equal(false);
    expect(JSON.parse(await readFile(join(dir, 'expose.json'), 'utf8'))).to.have.nested.property('exposed.length', 1);
  });

  it('refuses to start on a state file it cannot trust, naming it', async () => {
    await service.stop();
    await writeFile(join(dir, 'expose.json'), '{"version":1,"exposed":[{"subnet":"10.32.0.0/16"}]}');
    expect((await rejection(make().start())).message).to.match(/^the exposed addresses in .*expose\.json are not valid: exposed\.0\.poolId/);
    await writeFile(join(dir, 'expose.json'), '{"version":1,');
    expect((await rejection(make().start())).message).to.match(/^cannot read the exposed addresses in .*expose\.json: /);
  });
});
