import type { Logger } from '../common/logger.ts';
import { RetryingService } from '../common/retry-loop.ts';
import type { DockerClient } from './docker-client.ts';

export interface DockerSyncTarget {
  syncWithDocker(present: { networks: Set<string>; endpoints: Set<string>; addresses?: Set<string> }): Promise<{ networks: number; endpoints: number; addresses?: number }>;
}

/** Once after start, as soon as Docker answers: tell the plugin which networks and endpoints
 *  Docker still has, so records Docker removed while the daemon was down (its calls to us failed)
 *  are dropped and their addresses released. Runs beside the plugin, never in a plugin request:
 *  at dockerd start-up the Engine API is not served yet. */
export class DockerSync extends RetryingService {
  private done = false;

  constructor(private readonly opts: { docker: DockerClient; target: DockerSyncTarget; logger: Logger }) {
    super({ maxDelayMs: 30_000 });
  }

  get synced(): boolean {
    return this.done;
  }

  protected async attempt(): Promise<'done' | 'retry'> {
    const { docker, target, logger } = this.opts;
    try {
      if (!(await docker.ping())) return 'retry';
      const networks = new Set(await docker.listNetworkIds());
      const endpoints = new Set<string>();
      const addresses = new Set<string>();
      for (const id of networks) {
        const usage = await docker.networkUsage(id);
        for (const ep of usage?.endpoints ?? []) endpoints.add(ep);
        for (const a of usage?.addresses ?? []) addresses.add(a);
      }
      if (this.loop.stopped) return 'done';
      const dropped = await target.syncWithDocker({ networks, endpoints, addresses });
      this.done = true;
      logger.info('in sync with Docker', { droppedNetworks: dropped.networks, droppedEndpoints: dropped.endpoints, releasedAddresses: dropped.addresses ?? 0 });
      return 'done';
    } catch (err) {
      logger.warn('cannot sync with Docker yet; will retry', { error: err instanceof Error ? err.message : String(err), retryInMs: this.loop.nextDelayMs });
      return 'retry';
    }
  }
}
