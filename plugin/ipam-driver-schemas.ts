// Request bodies of the IpamDriver methods (libnetwork ipams/remote/api). Unknown fields are
// dropped so newer engines keep working.

import { z } from 'zod';

const poolIdSchema = z.string().min(1).max(256);

export const requestPoolSchema = z.object({
  AddressSpace: z.string().optional(),
  Pool: z.string().optional(),
  SubPool: z.string().optional(),
  /** --ipam-opt: string to string in the Engine API. */
  Options: z.record(z.string(), z.string()).nullish(),
  V6: z.boolean().optional(),
});

export const releasePoolSchema = z.object({ PoolID: poolIdSchema });

export const requestAddressSchema = z.object({
  PoolID: poolIdSchema,
  Address: z.string().optional(),
  /** e.g. RequestAddressType, the endpoint's MAC or (v29+) its name. */
  Options: z.record(z.string(), z.unknown()).nullish(),
});

export const releaseAddressSchema = z.object({
  PoolID: poolIdSchema,
  Address: z.string().min(1),
});
