import type { Logger } from '../common/logger.ts';
import { RetryingService } from '../common/retry-loop.ts';
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
export class DefaultNetwork extends RetryingService {
  private status_: DefaultNetworkStatus;

  constructor(private readonly opts: DefaultNetworkOptions) {
    super({
      ...(opts.retryDelayMs !== undefined ? { firstDelayMs: opts.retryDelayMs } : {}),
      ...(opts.maxDelayMs !== undefined ? { maxDelayMs: opts.maxDelayMs } : {}),
    });
    this.status_ = { name: opts.name, state: 'pending' };
  }

  status(): DefaultNetworkStatus {
    return { ...this.status_ };
  }

  protected async attempt(): Promise<'done' | 'retry'> {
    const { docker, logger, name } = this.opts;
    try {
      if (!(await docker.ping())) {
        logger.debug('docker not answering yet; will retry', { retryInMs: this.loop.nextDelayMs });
        return 'retry';
      }
      const existing = await docker.findNetwork(name);
      if (existing) {
        if (!this.isOurs(existing.Driver)) {
          this.fail(`a Docker network named "${name}" already exists with driver "${existing.Driver}"; remove it (docker network rm ${name}) or run with --no-default-network`);
          return 'done';
        }
        this.status_ = { name, state: 'exists' };
        logger.info('default network present', { id: existing.Id });
        return 'done';
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
      return 'done';
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // A create that raced another launcher ends as "already exists": look again next time.
      logger.warn('default network not ready; will retry', { error: message, retryInMs: this.loop.nextDelayMs });
      this.status_ = { name, state: 'pending', error: message };
      return 'retry';
    }
  }

  private isOurs(driver: string): boolean {
    const base = (d: string) => d.replace(/:latest$/, '');
    return base(driver) === base(this.opts.driver);
  }

  private fail(message: string): void {
    this.status_ = { name: this.opts.name, state: 'error', error: message };
    this.opts.logger.error('default network cannot be created', { error: message });
  }
}
