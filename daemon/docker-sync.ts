import type { Logger } from '../common/logger.ts';
import type { DockerClient } from './docker-client.ts';

export interface DockerSyncTarget {
  syncWithDocker(present: { networks: Set<string>; endpoints: Set<string> }): Promise<{ networks: number; endpoints: number }>;
}

/** Once after start, as soon as Docker answers: tell the plugin which networks and endpoints
 *  Docker still has, so records Docker removed while the daemon was down (its calls to us failed)
 *  are dropped and their addresses released. Runs beside the plugin, never in a plugin request:
 *  at dockerd start-up the Engine API is not served yet. */
export class DockerSync {
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private delay: number;
  private done = false;

  constructor(
    private readonly opts: { docker: DockerClient; target: DockerSyncTarget; logger: Logger; retryDelayMs?: number; maxDelayMs?: number },
  ) {
    this.delay = opts.retryDelayMs ?? 500;
  }

  get synced(): boolean {
    return this.done;
  }

  start(): Promise<void> {
    this.stopped = false;
    this.schedule(0);
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return Promise.resolve();
  }

  private schedule(ms: number): void {
    if (this.stopped || this.done) return;
    this.timer = setTimeout(() => void this.attempt(), ms);
  }

  private async attempt(): Promise<void> {
    const { docker, target, logger } = this.opts;
    try {
      if (!(await docker.ping())) {
        this.retryLater();
        return;
      }
      const networks = new Set(await docker.listNetworkIds());
      const endpoints = new Set<string>();
      for (const id of networks) {
        for (const ep of (await docker.networkEndpoints(id)) ?? []) endpoints.add(ep);
      }
      if (this.stopped) return;
      const dropped = await target.syncWithDocker({ networks, endpoints });
      this.done = true;
      logger.info('in sync with Docker', { droppedNetworks: dropped.networks, droppedEndpoints: dropped.endpoints });
    } catch (err) {
      if (this.stopped) return;
      logger.warn('cannot sync with Docker yet; will retry', { error: err instanceof Error ? err.message : String(err), retryInMs: this.delay });
      this.retryLater();
    }
  }

  private retryLater(): void {
    this.schedule(this.delay);
    this.delay = Math.min(this.delay * 2, this.opts.maxDelayMs ?? 30_000);
  }
}
