import { z } from 'zod';

/** The part of `weave status --json` the tests rely on (the daemon's documented contract);
 *  parsing it also checks the contract. Unknown extra fields are allowed. */
export const weaveStatusSchema = z.object({
  version: z.string(),
  pid: z.number().int(),
  dataDir: z.string(),
  bridge: z.object({ name: z.string(), mtu: z.number(), index: z.number(), up: z.boolean() }),
  plugin: z.object({
    socket: z.string(),
    networks: z.array(z.object({
      id: z.string(),
      subnet: z.string().optional(),
      multicast: z.boolean(),
      internal: z.boolean(),
      endpoints: z.number(),
    })),
    endpoints: z.number(),
  }),
  ipam: z.object({
    range: z.string(),
    defaultSubnet: z.string(),
    pools: z.array(z.object({
      poolId: z.string(),
      subnet: z.string(),
      range: z.string().optional(),
      refs: z.number(),
      allocated: z.number(),
      free: z.number(),
      addresses: z.array(z.string()),
    })),
  }),
  defaultNetwork: z.object({
    name: z.string(),
    state: z.enum(['pending', 'created', 'exists', 'error', 'disabled']),
    error: z.string().optional(),
  }),
});

export type WeaveStatus = z.infer<typeof weaveStatusSchema>;

export function parseWeaveStatus(text: string): WeaveStatus {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`weave status --json printed no JSON (${(err as Error).message}):\n${text.slice(0, 2000)}`);
  }
  const parsed = weaveStatusSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`weave status --json does not match the contract: ${issues}\n${text.slice(0, 2000)}`);
  }
  return parsed.data;
}
