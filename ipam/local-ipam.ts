// Single-peer IPAM: hands out subnets and addresses from one host's own view of the range. It is
// the stand-in until the gossiped ring exists; both implement the same `Ipam` contract, so the
// plugin does not care which one it talks to.

import { join } from 'node:path';
import type { Logger } from '../common/logger.ts';
import { readJson, writeJsonAtomic } from '../common/atomic-file.ts';
import type { AddressRequest, Ipam, IpamStatus, PoolGrant, PoolRequest, PoolStatus } from './contract.ts';
import { AsyncMutex } from '../common/async-mutex.ts';
import { containsAddress, containsCidr, formatCidr, lastOf, makeCidr, overlaps, parseCidr, sizeOf, type Cidr } from './cidr.ts';
import { formatIpv4, parseIpv4, type Ipv4 } from '../common/ipv4.ts';
import { LOCAL_IPAM_STATE_VERSION, localIpamStateSchema, type LocalIpamState } from './local-ipam-state.ts';

export const DEFAULT_RANGE = '10.32.0.0/12';
export const DEFAULT_SUBNET = '10.32.0.0/16';
export const LOCAL_ADDRESS_SPACE = 'weavelocal';
export const GLOBAL_ADDRESS_SPACE = 'weaveglobal';
export const GATEWAY_DATA_KEY = 'com.docker.network.gateway';
const STATE_FILE = 'local-ipam.json';
/** Size of the subnets handed out when Docker asks for "any" pool. */
const AUTO_POOL_PREFIX = 24;
/** Smallest pool that still has a host address besides network and broadcast. */
const MAX_POOL_PREFIX = 30;

export interface LocalIpamOptions {
  /** Directory holding the state file (created if missing). */
  dataDir: string;
  logger: Logger;
  /** Range automatic pools are carved from. */
  range?: string;
  /** Subnet of the default `weave` network; automatic pools never use it. */
  defaultSubnet?: string;
}

interface Pool {
  poolId: string;
  subnet: Cidr;
  subPool?: Cidr;
  refs: number;
  auto: boolean;
  addresses: Set<Ipv4>;
}

type PoolTable = Map<string, Pool>;

export class LocalIpam implements Ipam {
  private readonly statePath: string;
  private readonly range: Cidr;
  private readonly defaultSubnet: Cidr;
  private readonly log: Logger;
  private readonly mutex = new AsyncMutex();
  private pools: PoolTable = new Map();
  private started = false;

  constructor(private readonly opts: LocalIpamOptions) {
    this.log = opts.logger;
    this.statePath = join(opts.dataDir, STATE_FILE);
    this.range = parseCidr(opts.range ?? DEFAULT_RANGE);
    this.defaultSubnet = parseCidr(opts.defaultSubnet ?? DEFAULT_SUBNET);
    if (this.range.prefix > AUTO_POOL_PREFIX) {
      throw new Error(`IPAM range ${formatCidr(this.range)} is smaller than one /${AUTO_POOL_PREFIX} subnet`);
    }
  }

  async start(): Promise<void> {
    if (this.started) return;
    const raw = await readJson(this.statePath).catch((err: unknown) => {
      throw new Error(`cannot read IPAM state ${this.statePath}: ${(err as Error).message}`);
    });
    if (raw !== undefined) {
      const parsed = localIpamStateSchema.safeParse(raw);
      if (!parsed.success) {
        throw new Error(`IPAM state ${this.statePath} is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      }
      this.pools = decodeState(parsed.data);
      if (parsed.data.range !== formatCidr(this.range)) {
        // Pools already handed out stay valid; only new automatic pools follow the new range.
        this.log.warn('IPAM range changed since the state was written', { was: parsed.data.range, now: formatCidr(this.range) });
      }
    }
    this.started = true;
    this.log.info('IPAM started', { range: formatCidr(this.range), defaultSubnet: formatCidr(this.defaultSubnet), pools: this.pools.size });
  }

  async stop(): Promise<void> {
    await this.mutex.idle();
    this.started = false;
  }

  defaultAddressSpaces(): { local: string; global: string } {
    return { local: LOCAL_ADDRESS_SPACE, global: GLOBAL_ADDRESS_SPACE };
  }

  requestPool(req: PoolRequest): Promise<PoolGrant> {
    return this.mutate((pools) => {
      if (req.v6) throw new Error('IPv6 is not supported yet');
      if (req.subPool !== undefined && req.pool === undefined) {
        throw new Error(`an IP range (--ip-range ${req.subPool}) needs a subnet (--subnet) that contains it`);
      }
      const pool = req.pool === undefined ? this.allocateAutoPool(pools) : this.claimExplicitPool(pools, req.pool, req.subPool);
      return {
        poolId: pool.poolId,
        pool: formatCidr(pool.subnet),
        // The network address as a placeholder gateway: Docker then requests no gateway address,
        // so none is burnt per subnet; containers get their default route from docker_gwbridge.
        data: { [GATEWAY_DATA_KEY]: formatCidr(pool.subnet) },
      };
    });
  }

  async releasePool(poolId: string): Promise<void> {
    await this.mutate((pools) => {
      const pool = pools.get(poolId);
      if (pool === undefined) return false;
      pool.refs -= 1;
      if (pool.refs <= 0) {
        pools.delete(poolId);
        if (pool.addresses.size > 0) {
          this.log.info('released pool still had addresses; releasing them too', { poolId, addresses: pool.addresses.size });
        }
      }
      return true;
    }, (changed) => changed);
  }

  requestAddress(req: AddressRequest): Promise<string> {
    return this.mutate((pools) => {
      const pool = pools.get(req.poolId);
      if (pool === undefined) throw new Error(`unknown address pool "${req.poolId}"`);
      const address = req.address === undefined || req.address === '' ? this.lowestFree(pool) : this.checkExact(pool, req.address);
      pool.addresses.add(address);
      return `${formatIpv4(address)}/${pool.subnet.prefix}`;
    });
  }

  async releaseAddress(poolId: string, address: string): Promise<void> {
    await this.mutate((pools) => {
      const pool = pools.get(poolId);
      if (pool === undefined) return false;
      const ip = parseIpv4(stripPrefix(address));
      // The placeholder gateway (network address) was never allocated, so it falls through here.
      return pool.addresses.delete(ip);
    }, (changed) => changed);
  }

  status(): IpamStatus {
    const pools: PoolStatus[] = [...this.pools.values()].map((p) => {
      const span = hostSpan(p);
      const allocatable = Math.max(0, span.last - span.first + 1);
      let inSpan = 0;
      for (const a of p.addresses) if (a >= span.first && a <= span.last) inSpan += 1;
      return {
        poolId: p.poolId,
        subnet: formatCidr(p.subnet),
        range: formatCidr(p.subPool ?? p.subnet),
        refs: p.refs,
        allocated: p.addresses.size,
        free: allocatable - inSpan,
        addresses: [...p.addresses].sort((a, b) => a - b).map(formatIpv4),
      };
    });
    return { range: formatCidr(this.range), defaultSubnet: formatCidr(this.defaultSubnet), pools };
  }

  /** Run one state change: work on a copy, persist it, and only then publish it, so a failed
   *  request (validation error or failed write) leaves both memory and disk as they were.
   *  `changed` lets idempotent no-ops (releasing something unknown) skip the write. */
  private mutate<T>(change: (pools: PoolTable) => T, changed: (value: T) => boolean = () => true): Promise<T> {
    return this.mutex.run(async () => {
      if (!this.started) throw new Error('IPAM is not started');
      const next = clonePools(this.pools);
      const value = change(next);
      if (!changed(value)) return value;
      await writeJsonAtomic(this.statePath, encodeState(next, this.range, this.defaultSubnet));
      this.pools = next;
      return value;
    });
  }

  private allocateAutoPool(pools: PoolTable): Pool {
    const taken = [this.defaultSubnet, ...[...pools.values()].map((p) => p.subnet)];
    const step = sizeOf({ base: 0, prefix: AUTO_POOL_PREFIX });
    for (let base = this.range.base; base <= lastOf(this.range); base += step) {
      const candidate = makeCidr(base, AUTO_POOL_PREFIX);
      if (taken.some((t) => overlaps(t, candidate))) continue;
      const pool: Pool = { poolId: poolIdOf(candidate), subnet: candidate, refs: 1, auto: true, addresses: new Set() };
      pools.set(pool.poolId, pool);
      this.log.info('allocated subnet', { poolId: pool.poolId });
      return pool;
    }
    throw new Error(`no free /${AUTO_POOL_PREFIX} subnet left in IPAM range ${formatCidr(this.range)} (default subnet ${formatCidr(this.defaultSubnet)} is reserved)`);
  }

  private claimExplicitPool(pools: PoolTable, poolText: string, subPoolText: string | undefined): Pool {
    const subnet = parseCidr(poolText);
    if (subnet.prefix > MAX_POOL_PREFIX) throw new Error(`subnet ${poolText} is too small: it needs at least one host address (prefix /${MAX_POOL_PREFIX} or shorter)`);
    let subPool: Cidr | undefined;
    if (subPoolText !== undefined) {
      subPool = parseCidr(subPoolText);
      if (!containsCidr(subnet, subPool)) throw new Error(`IP range ${subPoolText} is not inside subnet ${poolText}`);
    }
    const poolId = poolIdOf(subnet, subPool);
    const existing = pools.get(poolId);
    if (existing !== undefined) {
      // Docker reference-counts pools: an identical request shares the existing one.
      existing.refs += 1;
      return existing;
    }
    for (const other of pools.values()) {
      if (overlaps(other.subnet, subnet)) {
        throw new Error(`subnet ${formatCidr(subnet)} overlaps with subnet ${formatCidr(other.subnet)} already in use (pool ${other.poolId})`);
      }
    }
    const pool: Pool = { poolId, subnet, refs: 1, auto: false, addresses: new Set() };
    if (subPool !== undefined) pool.subPool = subPool;
    pools.set(poolId, pool);
    this.log.info('claimed subnet', { poolId });
    return pool;
  }

  private lowestFree(pool: Pool): Ipv4 {
    const span = hostSpan(pool);
    // Steps are bounded by the number of allocated addresses + 1, whatever the pool size.
    for (let a = span.first; a <= span.last; a += 1) {
      if (!pool.addresses.has(a)) return a;
    }
    throw new Error(`no free address left in ${formatCidr(pool.subPool ?? pool.subnet)} (pool ${pool.poolId})`);
  }

  /** An address the user named (--ip, --gateway, --aux-address). Like Docker's own IPAM it may
   *  lie anywhere in the subnet, also outside --ip-range: keeping static addresses outside the
   *  dynamic range is the usual way to stop them colliding with automatic ones. */
  private checkExact(pool: Pool, text: string): Ipv4 {
    const address = parseIpv4(stripPrefix(text));
    const subnetText = formatCidr(pool.subnet);
    if (!containsAddress(pool.subnet, address)) throw new Error(`address ${formatIpv4(address)} is not in subnet ${subnetText}`);
    if (address === pool.subnet.base) throw new Error(`address ${formatIpv4(address)} is the network address of ${subnetText}`);
    if (address === lastOf(pool.subnet)) throw new Error(`address ${formatIpv4(address)} is the broadcast address of ${subnetText}`);
    if (pool.addresses.has(address)) throw new Error(`address ${formatIpv4(address)} is already in use in ${subnetText}`);
    return address;
  }
}

function poolIdOf(subnet: Cidr, subPool?: Cidr): string {
  return subPool === undefined ? `weave/${formatCidr(subnet)}` : `weave/${formatCidr(subnet)}/${formatCidr(subPool)}`;
}

/** Addresses automatic allocation may use: the sub-pool (or pool) without the pool's network
 *  and broadcast addresses. */
function hostSpan(pool: Pool): { first: Ipv4; last: Ipv4 } {
  const within = pool.subPool ?? pool.subnet;
  return {
    first: Math.max(within.base, pool.subnet.base + 1),
    last: Math.min(lastOf(within), lastOf(pool.subnet) - 1),
  };
}

function stripPrefix(address: string): string {
  const slash = address.indexOf('/');
  return slash < 0 ? address : address.slice(0, slash);
}

function clonePools(pools: PoolTable): PoolTable {
  const copy: PoolTable = new Map();
  for (const [id, p] of pools) copy.set(id, { ...p, addresses: new Set(p.addresses) });
  return copy;
}

function encodeState(pools: PoolTable, range: Cidr, defaultSubnet: Cidr): LocalIpamState {
  return {
    version: LOCAL_IPAM_STATE_VERSION,
    range: formatCidr(range),
    defaultSubnet: formatCidr(defaultSubnet),
    pools: [...pools.values()].map((p) => ({
      poolId: p.poolId,
      subnet: formatCidr(p.subnet),
      ...(p.subPool === undefined ? {} : { subPool: formatCidr(p.subPool) }),
      refs: p.refs,
      auto: p.auto,
      addresses: [...p.addresses].sort((a, b) => a - b).map(formatIpv4),
    })),
  };
}

function decodeState(state: LocalIpamState): PoolTable {
  const pools: PoolTable = new Map();
  for (const p of state.pools) {
    const pool: Pool = { poolId: p.poolId, subnet: parseCidr(p.subnet), refs: p.refs, auto: p.auto, addresses: new Set(p.addresses.map(parseIpv4)) };
    if (p.subPool !== undefined) pool.subPool = parseCidr(p.subPool);
    pools.set(p.poolId, pool);
  }
  return pools;
}
