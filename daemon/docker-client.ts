import Dockerode from 'dockerode';
import { parseNetwork } from './engine-records.ts';

export interface DockerNetworkSummary {
  Name: string;
  Id: string;
  Driver: string;
  IPAM?: { Driver?: string; Config?: { Subnet?: string }[] };
}

export class DockerApiError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'DockerApiError';
  }
}

/** Engine API event filters (`GET /events?filters=`): keys AND together, values within a key OR. */
export type DockerEventFilters = Record<string, string[]>;

/** The Engine API calls the daemon makes, over the unix socket. Never used on a plugin request
 *  path: dockerd calls plugins before it serves its API (deadlock). Every call fails as a
 *  DockerApiError (statusCode set when dockerd answered), so callers need not know dockerode. */
export class DockerClient {
  /** Request/response calls: an idle socket past the timeout is a hung dockerd, not a slow one. */
  private readonly api: Dockerode;
  /** The event stream is idle for as long as nothing happens, so it must not share that timeout. */
  private readonly streams: Dockerode;

  constructor(
    socketPath: string,
    timeoutMs = 10_000,
  ) {
    this.api = new Dockerode({ socketPath, timeout: timeoutMs });
    this.streams = new Dockerode({ socketPath });
  }

  async ping(): Promise<boolean> {
    try {
      await this.call('ping', () => this.api.ping());
      return true;
    } catch {
      return false;
    }
  }

  async findNetwork(name: string): Promise<DockerNetworkSummary | undefined> {
    const list = (await this.call(`list networks named ${name}`, () => this.api.listNetworks({ filters: { name: [name] } }))) as DockerNetworkSummary[];
    // the name filter matches substrings; only an exact match counts
    return list.find((n) => n.Name === name);
  }

  async listNetworkIds(): Promise<string[]> {
    const list = (await this.call('list networks', () => this.api.listNetworks())) as DockerNetworkSummary[];
    return list.map((n) => n.Id);
  }

  /** What Docker uses on a network: its endpoint IDs, and the addresses of those endpoints and of
   *  its IPAM gateways (bare IPs); undefined when the network does not exist. Throws on an inspect
   *  that does not parse: a sync must not act on half a view. */
  async networkUsage(id: string): Promise<{ endpoints: string[]; addresses: string[] } | undefined> {
    const raw = await this.inspectNetwork(id);
    if (raw === undefined) return undefined;
    const net = parseNetwork(raw);
    if (!net.ok) throw new DockerApiError(`docker inspect network ${id}: unreadable answer: ${net.error}`);
    const attached = [...net.value.attachments.values()];
    return {
      endpoints: attached.map((a) => a.endpointId).filter((e) => e.length > 0),
      addresses: [...attached.map((a) => a.ipv4).filter((a) => a.length > 0), ...net.value.gateways],
    };
  }

  async createNetwork(body: Record<string, unknown>): Promise<{ Id: string }> {
    const net = await this.call(`create network ${String(body['Name'])}`, () => this.api.createNetwork(body as unknown as Dockerode.NetworkCreateOptions));
    return { Id: net.id };
  }

  /** Raw `GET /networks/{id}` (by ID or name); undefined when it does not exist. Left unknown:
   *  callers validate what they use, since a bad answer must not crash a long-lived service. */
  async inspectNetwork(idOrName: string): Promise<unknown> {
    return this.orUndefinedOn404(() => this.call(`inspect network ${idOrName}`, () => this.api.getNetwork(idOrName).inspect()));
  }

  /** IDs of the running containers. */
  async listRunningContainerIds(): Promise<string[]> {
    const list = await this.call('list containers', () => this.api.listContainers());
    return list.map((c) => c.Id).filter((id): id is string => typeof id === 'string' && id.length > 0);
  }

  /** Raw `GET /containers/{id}/json`; undefined when the container does not exist (any more). */
  async inspectContainer(id: string): Promise<unknown> {
    return this.orUndefinedOn404(() => this.call(`inspect container ${id}`, () => this.api.getContainer(id).inspect()));
  }

  /** The event stream (newline-separated JSON objects) from now on. It ends or errors when dockerd
   *  goes away; `signal` ends it from our side. */
  async events(filters: DockerEventFilters, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
    return this.call('follow events', () => this.streams.getEvents({ filters, abortSignal: signal }));
  }

  private async orUndefinedOn404(fn: () => Promise<unknown>): Promise<unknown> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof DockerApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  /** Runs one dockerode call and turns its errors (docker-modem's carry statusCode and the JSON
   *  body with dockerd's message) into DockerApiError. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = err as { statusCode?: unknown; json?: { message?: unknown }; message?: unknown; code?: unknown };
      const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
      const detail = typeof e.json?.message === 'string' ? e.json.message : typeof e.message === 'string' ? e.message : String(err);
      // docker-modem ends a request that went idle past the timeout with a bare socket reset
      const message = status === undefined && e.code === 'ECONNRESET' ? `${detail} (no answer in time?)` : detail;
      throw new DockerApiError(`docker ${what}: ${status !== undefined ? `${status} ` : ''}${message}`, status);
    }
  }
}
