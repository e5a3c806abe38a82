// The host's exposed addresses on disk (<dataDir>/expose.json), so a restarted daemon puts them
// back: the address came from IPAM, which keeps it allocated across restarts, and nobody else
// remembers that the host holds it.
import { join } from 'node:path';
import { z } from 'zod';
import { readJson, writeJsonAtomic } from '../common/atomic-file.ts';

const STATE_FILE = 'expose.json';
const STATE_VERSION = 1;

const exposeRecordSchema = z
  .object({
    /** The network's subnet, canonical ("10.32.0.0/16"). */
    subnet: z.string().min(1),
    /** The IPAM pool the address came from, to release it there. */
    poolId: z.string().min(1),
    /** With the subnet's prefix ("10.32.0.5/16"). */
    address: z.string().min(1),
    /** The weaveDNS name to register it under; absent: none. */
    name: z.string().min(1).optional(),
  })
  .strict();

const exposeFileSchema = z.object({ version: z.literal(STATE_VERSION), exposed: z.array(exposeRecordSchema) }).strict();

export type ExposeRecord = z.infer<typeof exposeRecordSchema>;

export class ExposeState {
  readonly path: string;

  constructor(dataDir: string) {
    this.path = join(dataDir, STATE_FILE);
  }

  /** The records on disk; none when the file does not exist. Throws, naming the file, when it
   *  cannot be read or is not ours: guessing would give away or keep addresses wrongly. */
  async load(): Promise<ExposeRecord[]> {
    let raw: unknown;
    try {
      raw = await readJson(this.path);
    } catch (err) {
      throw new Error(`cannot read the exposed addresses in ${this.path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (raw === undefined) return [];
    const parsed = exposeFileSchema.safeParse(raw);
    if (!parsed.success) {
      throw new Error(`the exposed addresses in ${this.path} are not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    return parsed.data.exposed;
  }

  async save(records: ExposeRecord[]): Promise<void> {
    await writeJsonAtomic(this.path, { version: STATE_VERSION, exposed: records });
  }
}
