// The IPAM contract the Docker plugin talks to. The single-peer allocator (LocalIpam) and the
// distributed ring (RingIpam, gossiped over the mesh) both implement it.

import type { RingAllocatorStatus } from './ring-allocator.ts';

export interface PoolRequest {
  /** CIDR the user asked for with --subnet; undefined = pick one. */
  pool?: string;
  /** CIDR the user asked for with --ip-range (must lie inside pool). */
  subPool?: string;
  /** IPAM options (--ipam-opt). */
  options: Record<string, string>;
  v6: boolean;
}

export interface PoolGrant {
  poolId: string;
  /** CIDR of the whole subnet. */
  pool: string;
  /** Extra data for Docker, e.g. {"com.docker.network.gateway": "10.32.1.0/24"}. */
  data: Record<string, string>;
}

export interface AddressRequest {
  poolId: string;
  /** Exact address wanted (--ip, --gateway, aux addresses); undefined = any free one. */
  address?: string;
  options: Record<string, string>;
}

export interface PoolStatus {
  poolId: string;
  subnet: string;
  range: string;
  /** Number of users of this pool (Docker reference-counts identical requests). */
  refs: number;
  allocated: number;
  free: number;
  /** Allocated addresses (bare IPs, ascending), so operators and tests can see where addresses
   *  come from. Optional so implementations that cannot list cheaply stay conforming. */
  addresses?: string[];
}

export interface IpamStatus {
  /** Whole range this IPAM hands subnets out of, e.g. 10.32.0.0/12. */
  range: string;
  defaultSubnet: string;
  pools: PoolStatus[];
  /** The distributed allocator's view (Weave's IPAM status section); absent for LocalIpam. */
  ring?: RingAllocatorStatus;
}

export interface Ipam {
  start(): Promise<void>;
  stop(): Promise<void>;
  defaultAddressSpaces(): { local: string; global: string };
  requestPool(req: PoolRequest): Promise<PoolGrant>;
  /** Idempotent: unknown pool IDs are not an error. */
  releasePool(poolId: string): Promise<void>;
  /** Resolves to the address in CIDR form (address/prefix of the pool). */
  requestAddress(req: AddressRequest): Promise<string>;
  /** Idempotent: unknown addresses are not an error. `address` is a bare IP. */
  releaseAddress(poolId: string, address: string): Promise<void>;
  status(): IpamStatus;
}
