// The daemon's sequencing of its parts, with the further-services slot a new service (DNS) plugs
// into from assemble.ts alone: started after the router and IPAM and before the plugin, stopped in
// reverse, its status under its name and its routes on the status API.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { silentLogger } from '../../../common/logger.ts';
import { DEFAULTS, type DaemonConfig } from '../../../daemon/config.ts';
import { Daemon, type DaemonParts, type ServicePart } from '../../../daemon/daemon.ts';
import type { Datapath } from '../../../datapath/contract.ts';
import type { Ipam } from '../../../ipam/contract.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('Daemon: parts and further services', () => {
  let dir: string;
  let config: DaemonConfig;
  const events: string[] = [];

  const part = (name: string): { start(): Promise<void>; stop(): Promise<void> } => ({
    start: () => {
      events.push(`start ${name}`);
      return Promise.resolve();
    },
    stop: () => {
      events.push(`stop ${name}`);
      return Promise.resolve();
    },
  });

  function parts(services: ServicePart[]): DaemonParts {
    const datapath = {
      ...part('datapath'),
      ensureBridge: (o: { name: string; mtu: number }) => Promise.resolve({ name: o.name, index: 7, mtu: o.mtu, up: true, mac: '02:00:00:00:00:07' }),
      getLink: (name: string) => Promise.resolve({ name, index: 7, mtu: 1376, up: true, mac: '02:00:00:00:00:07' }),
    } as unknown as Datapath;
    const ipam = { ...part('ipam'), status: () => ({ pools: [] }) } as unknown as Ipam;
    const plugin = { ...part('plugin'), reconcile: () => Promise.resolve(), syncWithDocker: () => Promise.resolve({ networks: 0, endpoints: 0 }), status: () => ({}) };
    return { datapath, ipam, plugin, router: { ...part('router'), status: () => ({}), connect: () => [], forget: () => undefined }, services };
  }

  beforeEach(async () => {
    events.length = 0;
    dir = mkdtempSync(join(tmpdir(), 'daemon-services-'));
    config = {
      ...DEFAULTS,
      dataDir: dir,
      statusAddr: `127.0.0.1:${await freePort()}`,
      // nothing answers here: Docker sync only retries in the background
      dockerSocket: join(dir, 'no-docker.sock'),
      defaultNetwork: false,
    };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('starts a service after router and IPAM and before the plugin, stops it in reverse, and serves its status and routes', async () => {
    const dns: ServicePart = {
      name: 'dns',
      ...part('dns'),
      status: () => ({ entries: 3 }),
      routes: (app) => app.get('/dns-probe', (_req, res) => void res.json({ ok: true })),
    };
    const daemon = new Daemon(config, parts([dns]), silentLogger());
    await daemon.start();
    try {
      expect(events).to.deep.equal(['start datapath', 'start router', 'start ipam', 'start dns', 'start plugin']);
      expect((await daemon.status()).services).to.deep.equal({ dns: { entries: 3 } });
      const res = await fetch(`http://${config.statusAddr}/dns-probe`);
      expect(await res.json()).to.deep.equal({ ok: true });
    } finally {
      await daemon.stop();
    }
    expect(events.slice(5)).to.deep.equal(['stop plugin', 'stop dns', 'stop ipam', 'stop router', 'stop datapath']);
  });

  it('a service that fails to start stops what started before it', async () => {
    const broken: ServicePart = { name: 'broken', start: () => Promise.reject(new Error('port 53 in use')), stop: () => Promise.resolve() };
    const daemon = new Daemon(config, parts([broken]), silentLogger());
    let error: unknown;
    await daemon.start().catch((err: unknown) => (error = err));
    expect((error as Error).message).to.equal('port 53 in use');
    expect(events).to.deep.equal(['start datapath', 'start router', 'start ipam', 'stop ipam', 'stop router', 'stop datapath']);
  });
});
