// On-disk form of the distributed allocator: the ring as we last knew it and the addresses we
// handed out, so a restarted peer keeps its space and its containers keep their addresses.

import { z } from 'zod';

export const RING_STATE_VERSION = 1;

const entrySchema = z.object({
  token: z.number().int().min(0),
  peer: z.string(),
  version: z.number().int().min(0),
  free: z.number().int().min(0),
});

export const ringStateSchema = z.object({
  version: z.literal(RING_STATE_VERSION),
  /** The peer this state belongs to: a state written under another name is not ours to reuse. */
  peerName: z.string(),
  range: z.string(),
  ring: z.object({ entries: z.array(entrySchema), seeds: z.array(z.string()) }).nullable(),
  /** identifier (container id, `pool:<id>`, ...) → addresses */
  owned: z.record(z.string(), z.array(z.string())),
  nicknames: z.record(z.string(), z.string()),
  /** Set by `weave ipam-rejoin` until another peer's ring arrives: do not start a ring of our own. */
  rejoining: z.boolean().optional(),
});

export type RingState = z.infer<typeof ringStateSchema>;
