import { expect } from 'chai';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetworkStore, type EndpointRecord, type NetworkRecord } from '../../../plugin/network-store.ts';

const NET: NetworkRecord = { id: 'n1', addressSpace: 'weavelocal', subnets: ['10.33.0.0/24'], multicast: true, internal: false };
const EP: EndpointRecord = { id: 'e1', networkId: 'n1', hostVeth: 'vethwle1', guestVeth: 'vethwge1', mac: '02:00:00:00:00:01', address: '10.33.0.1/24' };

describe('plugin/NetworkStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weave-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('starts empty without a file, persists updates and loads them in a new instance', async () => {
    const a = new NetworkStore({ dataDir: dir });
    await a.load();
    expect(a.networks()).to.deep.equal([]);
    await a.exclusive(() =>
      a.update((s) => {
        s.networks.set(NET.id, NET);
        s.endpoints.set(EP.id, EP);
      }),
    );
    const b = new NetworkStore({ dataDir: dir });
    await b.load();
    expect(b.networks()).to.deep.equal([NET]);
    expect(b.getEndpoint('e1')).to.deep.equal(EP);
    expect(b.endpointsOf('n1')).to.deep.equal([EP]);
    expect(b.endpointsOf('n2')).to.deep.equal([]);
    expect(JSON.parse(await readFile(b.path, 'utf8'))).to.deep.equal({ version: 1, networks: [NET], endpoints: [EP] });
  });

  it('refuses updates outside exclusive()', async () => {
    const s = new NetworkStore({ dataDir: dir });
    await s.load();
    const err = await s.update(() => undefined).catch((e: unknown) => e);
    expect(String(err)).to.match(/outside exclusive/);
  });

  it('keeps memory unchanged when the write fails', async () => {
    const s = new NetworkStore({ dataDir: dir });
    await s.load();
    await mkdir(join(s.path, 'blocker'), { recursive: true });
    const err = await s.exclusive(() => s.update((st) => void st.networks.set(NET.id, NET))).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
    expect(s.networks()).to.deep.equal([]);
  });

  it('refuses a file that is not its format', async () => {
    await writeFile(join(dir, 'plugin-networks.json'), JSON.stringify({ version: 2, networks: [], endpoints: [] }));
    const err = await new NetworkStore({ dataDir: dir }).load().catch((e: unknown) => e);
    expect(String(err)).to.match(/plugin state .* is not valid: version/);
  });
});
