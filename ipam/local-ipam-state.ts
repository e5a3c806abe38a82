// On-disk form of the single-peer IPAM state. Kept apart from the allocator so the file format
// is visible in one place and validated on load (a hand-edited or foreign file must fail loudly
// at start, not corrupt allocations later).

import { z } from 'zod';

export const LOCAL_IPAM_STATE_VERSION = 1;

export const storedPoolSchema = z.object({
  poolId: z.string().min(1),
  subnet: z.string().min(1),
  subPool: z.string().min(1).optional(),
  refs: z.number().int().min(1),
  /** Chosen by us (empty Pool in RequestPool) rather than named by the user. */
  auto: z.boolean(),
  addresses: z.array(z.string()),
});

export const localIpamStateSchema = z.object({
  version: z.literal(LOCAL_IPAM_STATE_VERSION),
  range: z.string(),
  defaultSubnet: z.string(),
  pools: z.array(storedPoolSchema),
});

export type StoredPool = z.infer<typeof storedPoolSchema>;
export type LocalIpamState = z.infer<typeof localIpamStateSchema>;
