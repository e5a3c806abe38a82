// A PluginServer on a real unix socket in a temp dir, with a real LocalIpam and a FakeDatapath.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../common/logger.ts';
import { LocalIpam } from '../../../ipam/local-ipam.ts';
import { PluginServer, type PluginServerOptions } from '../../../plugin/plugin-server.ts';
import { FakeDatapath } from './fake-datapath.ts';
import { call, post } from './plugin-client.ts';

export const BRIDGE = 'weave';
export const MTU = 1376;
export const NETWORK_STATE = 'plugin-networks.json';
export const IPAM_STATE = 'local-ipam.json';

export class PluginFixture {
  readonly socketPath: string;
  ipam!: LocalIpam;
  server!: PluginServer;

  private constructor(
    readonly dir: string,
    readonly datapath: FakeDatapath,
    private readonly extra: Partial<PluginServerOptions>,
  ) {
    // a directory that does not exist yet: the server must create it
    this.socketPath = join(dir, 'run', 'plugins', 'weave.sock');
  }

  static async create(extra: Partial<PluginServerOptions> = {}): Promise<PluginFixture> {
    const dir = await mkdtemp(join(tmpdir(), 'weave-plugin-'));
    const f = new PluginFixture(dir, new FakeDatapath(BRIDGE), extra);
    await f.boot();
    return f;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** Start a fresh IPAM and plugin on the same data dir (after stop() or a simulated crash). */
  async boot(): Promise<void> {
    this.ipam = new LocalIpam({ dataDir: this.dataDir, logger: silentLogger() });
    await this.ipam.start();
    this.server = new PluginServer({
      socketPath: this.socketPath,
      ipam: this.ipam,
      datapath: this.datapath,
      dataDir: this.dataDir,
      logger: silentLogger(),
      bridgeName: BRIDGE,
      mtu: MTU,
      ...this.extra,
    });
    await this.server.start();
  }

  async restart(): Promise<void> {
    await this.server.stop();
    await this.ipam.stop();
    await this.boot();
  }

  call(path: string, body?: unknown): Promise<Record<string, unknown>> {
    return call(this.socketPath, path, body);
  }

  post(path: string, body?: string | Buffer): ReturnType<typeof post> {
    return post(this.socketPath, path, body);
  }

  /** Contents of both state files (undefined where absent), to prove requests left them alone. */
  async stateFiles(): Promise<Record<string, string | undefined>> {
    const read = (name: string) => readFile(join(this.dataDir, name), 'utf8').catch(() => undefined);
    return { [NETWORK_STATE]: await read(NETWORK_STATE), [IPAM_STATE]: await read(IPAM_STATE) };
  }

  async close(): Promise<void> {
    await this.server.stop();
    await this.ipam.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** What `docker network create -d weave --ipam-driver weave [--subnet ...]` sends. */
export async function createNetwork(
  f: PluginFixture,
  networkId: string,
  opts: { subnet?: string; ipRange?: string; gateway?: string; generic?: Record<string, string>; internal?: boolean } = {},
): Promise<{ poolId: string; pool: string }> {
  const spaces = await f.call('/IpamDriver.GetDefaultAddressSpaces');
  const grant = await f.call('/IpamDriver.RequestPool', {
    AddressSpace: spaces['LocalDefaultAddressSpace'],
    Pool: opts.subnet ?? '',
    SubPool: opts.ipRange ?? '',
    Options: {},
    V6: false,
  });
  const poolId = grant['PoolID'] as string;
  const pool = grant['Pool'] as string;
  const prefix = pool.split('/')[1];
  let gateway = (grant['Data'] as Record<string, string>)['com.docker.network.gateway'];
  if (opts.gateway !== undefined) {
    const got = await f.call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: opts.gateway, Options: { RequestAddressType: 'com.docker.network.gateway' } });
    gateway = got['Address'] as string;
    if (gateway !== `${opts.gateway}/${prefix}`) throw new Error(`unexpected gateway ${gateway}`);
  }
  await f.call('/NetworkDriver.CreateNetwork', {
    NetworkID: networkId,
    Options: {
      'com.docker.network.enable_ipv6': false,
      'com.docker.network.generic': opts.generic ?? {},
      ...(opts.internal ? { 'com.docker.network.internal': true } : {}),
    },
    IPv4Data: [{ AddressSpace: spaces['LocalDefaultAddressSpace'], Pool: pool, Gateway: gateway }],
    IPv6Data: [],
  });
  return { poolId, pool };
}

export function endpointId(n: number): string {
  return n.toString(16).padStart(4, '0').repeat(16);
}

export function networkId(n: number): string {
  return 'a' + n.toString(16).padStart(63, '0');
}
