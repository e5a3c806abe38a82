import { request } from 'node:http';

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

/** The few Engine API calls the daemon makes, over the unix socket with a hard timeout. Never
 *  used on a plugin request path: dockerd calls plugins before it serves its API (deadlock). */
export class DockerClient {
  constructor(
    private readonly socketPath: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async ping(): Promise<boolean> {
    try {
      await this.call('GET', '/_ping');
      return true;
    } catch {
      return false;
    }
  }

  async findNetwork(name: string): Promise<DockerNetworkSummary | undefined> {
    const filters = encodeURIComponent(JSON.stringify({ name: [name] }));
    const list = (await this.call('GET', `/networks?filters=${filters}`)) as DockerNetworkSummary[];
    // the name filter matches substrings; only an exact match counts
    return list.find((n) => n.Name === name);
  }

  async listNetworkIds(): Promise<string[]> {
    const list = (await this.call('GET', '/networks')) as DockerNetworkSummary[];
    return list.map((n) => n.Id);
  }

  /** Endpoint IDs of the containers attached to a network; undefined when it does not exist. */
  async networkEndpoints(id: string): Promise<string[] | undefined> {
    try {
      const net = (await this.call('GET', `/networks/${encodeURIComponent(id)}`)) as { Containers?: Record<string, { EndpointID?: string }> };
      return Object.values(net.Containers ?? {})
        .map((c) => c.EndpointID)
        .filter((e): e is string => typeof e === 'string' && e.length > 0);
    } catch (err) {
      if (err instanceof DockerApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  async createNetwork(body: Record<string, unknown>): Promise<{ Id: string }> {
    return (await this.call('POST', '/networks/create', body)) as { Id: string };
  }

  private call(method: string, path: string, body?: unknown): Promise<unknown> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {},
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) {
              let message = text.trim();
              try {
                message = (JSON.parse(text) as { message?: string }).message ?? message;
              } catch {
                // not JSON: keep the raw text
              }
              reject(new DockerApiError(`docker ${method} ${path}: ${status} ${message}`, status));
              return;
            }
            if (text.length === 0 || !(res.headers['content-type'] ?? '').includes('json')) {
              resolve(text);
              return;
            }
            try {
              resolve(JSON.parse(text));
            } catch (err) {
              reject(err);
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new DockerApiError(`docker ${method} ${path}: timed out after ${this.timeoutMs} ms`)));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }
}
