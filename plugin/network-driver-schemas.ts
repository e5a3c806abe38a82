// Request bodies of the NetworkDriver methods, as libnetwork's remote driver sends them
// (field names are the Go field names; JSON is case-sensitive on our side). Unknown fields are
// dropped, so newer engines that add fields keep working.

import { z } from 'zod';
import { isIpv4 } from '../common/ipv4.ts';

export const networkIdSchema = z.string().min(1).max(128);
/** Docker sends 64 hex digits; we only insist on what makes a safe interface-name suffix. */
export const endpointIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9]{9,128}$/, 'expected at least 9 letters or digits (Docker sends 64 hex digits)');
const macSchema = z
  .string()
  .regex(/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/, 'expected a MAC address like 02:42:0a:20:00:05')
  // the kernel refuses these for an interface with a bare EADDRNOTAVAIL (found by test/fuzz)
  .refine((mac) => (parseInt(mac.slice(0, 2), 16) & 1) === 0 && !/^(00:){5}00$/.test(mac), 'expected a unicast, non-zero MAC address');

/** The generic option map of a network or sandbox; values of any JSON type. */
const genericMapSchema = z.record(z.string(), z.unknown());

export const ipamDataSchema = z.object({
  AddressSpace: z.string(),
  Pool: z.string().optional(),
  Gateway: z.string().optional(),
  AuxAddresses: z.record(z.string(), z.string()).nullish(),
});

/** A network's IPv4 pool as our IPAM hands it out ("10.32.0.0/16"). The pools become the
 *  isolation rules that every later endpoint change rewrites for all networks at once, so one
 *  that the rules cannot express would break every network on the host, not just its own. */
const subnet4Schema = z.string().refine((s) => {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s);
  return m !== null && Number(m[2]) <= 32 && isIpv4(m[1]!);
}, 'expected an IPv4 subnet like 10.32.0.0/16');

/** Docker sends one entry per --subnet; a bound keeps one network from making the rules of
 *  all of them too big to install. */
export const MAX_IPV4_POOLS = 32;

const ipamData4Schema = ipamDataSchema.extend({ Pool: z.union([subnet4Schema, z.literal('')]).optional() });
const ipv4DataSchema = z.array(ipamData4Schema).max(MAX_IPV4_POOLS, `at most ${MAX_IPV4_POOLS} IPv4 pools per network`).nullish();

export const createNetworkOptionsSchema = z.looseObject({
  /** `docker network create -o k=v`: string to string in the Engine API. */
  'com.docker.network.generic': z.record(z.string(), z.string()).nullish(),
  'com.docker.network.enable_ipv6': z.boolean().optional(),
  'com.docker.network.enable_ipv4': z.boolean().optional(),
  'com.docker.network.internal': z.boolean().optional(),
});

export const createNetworkSchema = z.object({
  NetworkID: networkIdSchema,
  Options: createNetworkOptionsSchema.nullish(),
  IPv4Data: ipv4DataSchema,
  IPv6Data: z.array(ipamDataSchema).nullish(),
});

export const networkOnlySchema = z.object({ NetworkID: networkIdSchema });

export const endpointRefSchema = z.object({ NetworkID: networkIdSchema, EndpointID: endpointIdSchema });

/** An IPv4 address with prefix length, as IPAM handed it out ("10.32.0.5/16"). */
const cidr4Schema = z
  .string()
  .regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/, 'expected an IPv4 address with prefix length like 10.32.0.5/16');

export const createEndpointSchema = z.object({
  NetworkID: networkIdSchema,
  EndpointID: endpointIdSchema,
  Interface: z
    .object({
      Address: z.union([cidr4Schema, z.literal('')]).optional(),
      AddressIPv6: z.string().optional(),
      MacAddress: z.union([macSchema, z.literal('')]).optional(),
    })
    .nullish(),
  Options: genericMapSchema.nullish(),
});

export const joinSchema = z.object({
  NetworkID: networkIdSchema,
  EndpointID: endpointIdSchema,
  SandboxKey: z.string().optional(),
  Options: genericMapSchema.nullish(),
});

export const programExternalConnectivitySchema = z.object({
  NetworkID: networkIdSchema,
  EndpointID: endpointIdSchema,
  Options: genericMapSchema.nullish(),
});

export const discoverySchema = z.object({
  DiscoveryType: z.number().int(),
  DiscoveryData: z.unknown(),
});

export const allocateNetworkSchema = z.object({
  NetworkID: networkIdSchema,
  /** Swarm allocator options: string to string, unlike CreateNetwork's generic map. */
  Options: z.record(z.string(), z.string()).nullish(),
  IPv4Data: ipv4DataSchema,
  IPv6Data: z.array(ipamDataSchema).nullish(),
});

export const gwAllocCheckSchema = z.object({ Options: genericMapSchema.nullish() });

export type CreateNetworkRequest = z.infer<typeof createNetworkSchema>;
export type CreateEndpointRequest = z.infer<typeof createEndpointSchema>;
