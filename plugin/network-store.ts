// The plugin's memory of networks and endpoints. Docker does not replay CreateNetwork or
// CreateEndpoint after a plugin restart, so whatever we acknowledged must be on disk before we
// answer, and must come back after a crash (kill -9) exactly as it was acknowledged.

import { join } from 'node:path';
import { z } from 'zod';
import { readJson, writeJsonAtomic } from '../common/atomic-file.ts';
import { AsyncMutex } from '../common/async-mutex.ts';

const STATE_FILE = 'plugin-networks.json';
const STATE_VERSION = 1;

const networkRecordSchema = z.object({
  id: z.string(),
  /** IPAM address space the network's pools came from (weavelocal / weaveglobal). */
  addressSpace: z.string(),
  /** IPv4 pools (CIDR) Docker passed in IPv4Data, in order. */
  subnets: z.array(z.string()),
  multicast: z.boolean(),
  internal: z.boolean(),
});

const endpointRecordSchema = z.object({
  id: z.string(),
  networkId: z.string(),
  hostVeth: z.string(),
  guestVeth: z.string(),
  /** MAC of the guest end, "aa:bb:..". */
  mac: z.string(),
  /** Address (CIDR) Docker assigned from IPAM. */
  address: z.string(),
  /** Set while joined: the container's network namespace, and whether this endpoint carries the
   *  container's multicast route (only one interface of a container can). */
  sandboxKey: z.string().optional(),
  multicastRoute: z.boolean().optional(),
});

const storeFileSchema = z.object({
  version: z.literal(STATE_VERSION),
  networks: z.array(networkRecordSchema),
  endpoints: z.array(endpointRecordSchema),
});

export type NetworkRecord = z.infer<typeof networkRecordSchema>;
export type EndpointRecord = z.infer<typeof endpointRecordSchema>;

export interface StoreState {
  networks: Map<string, NetworkRecord>;
  endpoints: Map<string, EndpointRecord>;
}

export interface NetworkStoreOptions {
  dataDir: string;
}

export class NetworkStore {
  readonly path: string;
  private readonly mutex = new AsyncMutex();
  private state: StoreState = { networks: new Map(), endpoints: new Map() };
  private holding = false;

  constructor(opts: NetworkStoreOptions) {
    this.path = join(opts.dataDir, STATE_FILE);
  }

  async load(): Promise<void> {
    const raw = await readJson(this.path).catch((err: unknown) => {
      throw new Error(`cannot read plugin state ${this.path}: ${(err as Error).message}`);
    });
    if (raw === undefined) return;
    const parsed = storeFileSchema.safeParse(raw);
    if (!parsed.success) {
      throw new Error(`plugin state ${this.path} is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    this.state = {
      networks: new Map(parsed.data.networks.map((n) => [n.id, n])),
      endpoints: new Map(parsed.data.endpoints.map((e) => [e.id, e])),
    };
  }

  /** Serialize a whole request: its reads, datapath calls and writes run without another
   *  request interleaving, so "check, create veth, record it" cannot race a DeleteEndpoint. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      this.holding = true;
      try {
        return await fn();
      } finally {
        this.holding = false;
      }
    });
  }

  /** Wait for every queued request to finish. */
  idle(): Promise<void> {
    return this.mutex.idle();
  }

  getNetwork(id: string): NetworkRecord | undefined {
    return this.state.networks.get(id);
  }

  getEndpoint(id: string): EndpointRecord | undefined {
    return this.state.endpoints.get(id);
  }

  networks(): NetworkRecord[] {
    return [...this.state.networks.values()];
  }

  endpoints(): EndpointRecord[] {
    return [...this.state.endpoints.values()];
  }

  endpointsOf(networkId: string): EndpointRecord[] {
    return this.endpoints().filter((e) => e.networkId === networkId);
  }

  /** Apply a change to a copy, write it, then publish it: a failed write leaves memory and disk
   *  as they were. Only inside `exclusive`, which is what makes copy-then-swap safe. */
  async update(change: (draft: StoreState) => void): Promise<void> {
    if (!this.holding) throw new Error('NetworkStore.update called outside exclusive()');
    const draft: StoreState = { networks: new Map(this.state.networks), endpoints: new Map(this.state.endpoints) };
    change(draft);
    await writeJsonAtomic(this.path, {
      version: STATE_VERSION,
      networks: [...draft.networks.values()],
      endpoints: [...draft.endpoints.values()],
    });
    this.state = draft;
  }
}
