import type { Logger } from '../common/logger.ts';
import type { DockerClient } from './docker-client.ts';

export type DefaultNetworkState = 'disabled' | 'pending' | 'created' | 'exists' | 'error';

export interface DefaultNetworkStatus {
  name: string;
  state: DefaultNetworkState;
  error?: string;
}

export interface DefaultNetworkOptions {
  docker: DockerClient;
  logger: Logger;
  name: string;
  subnet: string;
  /** Driver and IPAM driver name as Docker knows our plugin ("weave", or "weave:latest" managed). */
  driver: string;
  /** First retry delay; doubles up to maxDelayMs while Docker does not answer. */
  retryDelayMs?: number;
  maxDelayMs?: number;
}

/** Creates the Docker network users get by default (`--network weave`) once Docker answers.
 *  It runs beside the plugin, never inside a plugin request: Docker's network create calls back
 *  into our plugin socket, and at dockerd start-up the Engine API is not served yet. */
export class DefaultNetwork {
  private status_: DefaultNetworkStatus;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private delay: number;

  constructor(private readonly opts: DefaultNetworkOptions) {
    this.status_ = { name: opts.name, state: 'pending' };
    this.delay = opts.retryDelayMs ?? 500;
  }

  status(): DefaultNetworkStatus {
    return { ...this.status_ };
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
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.attempt(), ms);
  }

  private async attempt(): Promise<void> {
    const { docker, logger, name } = this.opts;
    try {
      if (!(await docker.ping())) {
        logger.debug('docker not answering yet; will retry', { retryInMs: this.delay });
        this.retryLater();
        return;
      }
      const existing = await docker.findNetwork(name);
      if (existing) {
        if (!this.isOurs(existing.Driver)) {
          this.fail(`a Docker network named "${name}" already exists with driver "${existing.Driver}"; remove it (docker network rm ${name}) or run with --no-default-network`);
          return;
        }
        this.status_ = { name, state: 'exists' };
        logger.info('default network present', { id: existing.Id });
        return;
      }
      const res = await docker.createNetwork({
        Name: name,
        Driver: this.opts.driver,
        CheckDuplicate: true,
        Attachable: true,
        IPAM: { Driver: this.opts.driver, Config: [{ Subnet: this.opts.subnet }] },
        Options: { 'works.weave.multicast': 'true' },
      });
      this.status_ = { name, state: 'created' };
      logger.info('default network created', { id: res.Id, subnet: this.opts.subnet });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (this.stopped) return;
      // A create that raced another launcher ends as "already exists": look again next time.
      logger.warn('default network not ready; will retry', { error: message, retryInMs: this.delay });
      this.status_ = { name, state: 'pending', error: message };
      this.retryLater();
    }
  }

  private isOurs(driver: string): boolean {
    const base = (d: string) => d.replace(/:latest$/, '');
    return base(driver) === base(this.opts.driver);
  }

  private retryLater(): void {
    this.schedule(this.delay);
    this.delay = Math.min(this.delay * 2, this.opts.maxDelayMs ?? 10_000);
  }

  private fail(message: string): void {
    this.status_ = { name: this.opts.name, state: 'error', error: message };
    this.opts.logger.error('default network cannot be created', { error: message });
  }
}
