// The Ipam the plugin talks to when hosts form a mesh. Pools (Docker network subnets) keep their
// bookkeeping in LocalIpam; addresses of pools inside the ring's range come from the ring, so
// they are unique across every host. Pools outside the range keep LocalIpam's per-host
// allocation: the user partitions them with --ip-range per host.

import type { Logger } from '../common/logger.ts';
import type { AddressRequest, Ipam, IpamStatus, PoolGrant, PoolRequest } from './contract.ts';
import { formatCidr, lastOf, overlaps, parseCidr, type Cidr } from './cidr.ts';
import type { AddressRange } from './address-range.ts';
import type { IpallocInit, IpamMesh } from './ipam-mesh.ts';
import { formatIpv4, parseIpv4 } from '../common/ipv4.ts';
import { DEFAULT_RANGE, DEFAULT_SUBNET, LocalIpam } from './local-ipam.ts';
import { RingAllocator } from './ring-allocator.ts';

export interface RingIpamOptions {
  dataDir: string;
  logger: Logger;
  range?: string;
  defaultSubnet?: string;
  init: IpallocInit;
  mesh: () => IpamMesh;
  waitMs?: number;
}

/** Identifier under which a Docker pool's addresses are held in the ring's books. */
export function poolIdent(poolId: string): string {
  return `pool:${poolId}`;
}

export class RingIpam implements Ipam {
  readonly allocator: RingAllocator;
  private readonly local: LocalIpam;
  private readonly defaultSubnet: Cidr;

  constructor(opts: RingIpamOptions) {
    const range = opts.range ?? DEFAULT_RANGE;
    this.defaultSubnet = parseCidr(opts.defaultSubnet ?? DEFAULT_SUBNET);
    this.local = new LocalIpam({ dataDir: opts.dataDir, logger: opts.logger, range, defaultSubnet: formatCidr(this.defaultSubnet) });
    this.allocator = new RingAllocator({
      dataDir: opts.dataDir,
      logger: opts.logger,
      range,
      init: opts.init,
      mesh: opts.mesh,
      ...(opts.waitMs !== undefined ? { waitMs: opts.waitMs } : {}),
    });
  }

  async start(): Promise<void> {
    await this.local.start();
    await this.allocator.start();
  }

  async stop(): Promise<void> {
    await this.allocator.stop();
    await this.local.stop();
  }

  defaultAddressSpaces(): { local: string; global: string } {
    return this.local.defaultAddressSpaces();
  }

  async requestPool(req: PoolRequest): Promise<PoolGrant> {
    if (req.pool !== undefined) {
      const subnet = parseCidr(req.pool);
      const range = this.allocator.range;
      if (overlaps(subnet, range) && !this.allocator.inRange(subnet)) {
        throw new Error(`subnet ${req.pool} overlaps the IPAM range ${formatCidr(range)} but does not lie inside it: pick a subnet inside it or outside it`);
      }
    }
    return this.local.requestPool(req);
  }

  async releasePool(poolId: string): Promise<void> {
    await this.local.releasePool(poolId);
    if (!this.local.status().pools.some((p) => p.poolId === poolId)) await this.allocator.release(poolIdent(poolId));
  }

  async requestAddress(req: AddressRequest): Promise<string> {
    const pool = this.local.status().pools.find((p) => p.poolId === req.poolId);
    if (pool === undefined) throw new Error(`unknown address pool "${req.poolId}"`);
    const subnet = parseCidr(pool.subnet);
    if (!this.allocator.inRange(subnet)) return this.local.requestAddress(req);
    const ident = poolIdent(req.poolId);
    let address: number;
    if (req.address !== undefined && req.address !== '') {
      address = parseIpv4(stripPrefix(req.address));
      await this.allocator.claim(ident, address);
    } else {
      const within = parseCidr(pool.range);
      const span: AddressRange = { start: Math.max(within.base, subnet.base + 1), end: Math.min(lastOf(within), lastOf(subnet) - 1) + 1 };
      if (span.end <= span.start) throw new Error(`no host addresses in ${pool.range}`);
      const ask: AddressRange = { start: within.base, end: lastOf(within) + 1 };
      // a pool holds many addresses: always a fresh one, never the identifier's existing one
      address = await this.allocator.allocate(ident, span, ask, { fresh: true });
    }
    try {
      return await this.local.requestAddress({ poolId: req.poolId, address: formatIpv4(address), options: req.options });
    } catch (err) {
      if (req.address === undefined || req.address === '') await this.allocator.release(ident, address);
      throw err;
    }
  }

  async releaseAddress(poolId: string, address: string): Promise<void> {
    await this.local.releaseAddress(poolId, address);
    await this.allocator.release(poolIdent(poolId), parseIpv4(stripPrefix(address)));
  }

  status(): IpamStatus {
    return { ...this.local.status(), ring: this.allocator.status() };
  }
}

function stripPrefix(address: string): string {
  const slash = address.indexOf('/');
  return slash < 0 ? address : address.slice(0, slash);
}
