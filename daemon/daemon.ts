import { StopStack } from '../common/stop-stack.ts';
import type { Express } from 'express';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { componentLogger, type Logger } from '../common/logger.ts';
import { packageVersion } from '../common/version.ts';
import type { Datapath } from '../datapath/contract.ts';
import type { Ipam } from '../ipam/contract.ts';
import type { DaemonConfig } from './config.ts';
import type { DaemonStatus } from './daemon-status.ts';
import { DefaultNetwork } from './default-network.ts';
import { DockerClient } from './docker-client.ts';
import { DockerSync } from './docker-sync.ts';
import { PidFile } from './pid-file.ts';
import { StatusApi } from './status-api.ts';
import { createMetrics } from './metrics.ts';

/** What the daemon needs of the plugin service (plugin/ implements it). */
export interface PluginService {
  start(): Promise<void>;
  stop(): Promise<void>;
  reconcile(): Promise<void>;
  syncWithDocker(present: { networks: Set<string>; endpoints: Set<string>; addresses?: Set<string> }): Promise<{ networks: number; endpoints: number; addresses?: number }>;
  status(): unknown;
}

/** What the daemon needs of the mesh router (router/ implements it). */
export interface RouterPart {
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): unknown;
  connect(peers: string[], replace: boolean): string[];
  forget(peers: string[]): void;
}

/** A further long-lived service (DNS and the like): started after the router and IPAM, before
 *  the plugin, stopped in reverse; its status appears under `services[name]`. */
export interface ServicePart {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  status?(): unknown;
  /** Control routes it serves on the status API. */
  routes?(app: Express): void;
}

export interface DaemonParts {
  datapath: Datapath;
  ipam: Ipam;
  plugin: PluginService;
  /** Absent with --no-router (a single-host network). */
  router?: RouterPart;
  /** Extra control routes for the status API (the distributed IPAM's /ip and /peer). */
  httpRoutes?: (app: Express) => void;
  services?: ServicePart[];
}

/** One process per host holding every service; this class only wires and sequences them.
 *  Start order matters: the bridge must exist before the plugin accepts CreateEndpoint, and
 *  the plugin must listen before we ask Docker to create the default network (Docker calls
 *  back into the plugin to do it). */
export class Daemon {
  private readonly log: Logger;
  private readonly pidFile: PidFile;
  private readonly statusApi: StatusApi;
  private readonly defaultNetwork: DefaultNetwork;
  private readonly dockerSync: DockerSync;
  private readonly stops: StopStack;
  private readonly startedAt = Date.now();

  constructor(
    private readonly config: DaemonConfig,
    private readonly parts: DaemonParts,
    root: Logger,
  ) {
    this.log = componentLogger(root, 'daemon');
    this.stops = new StopStack(this.log);
    this.pidFile = new PidFile(join(config.dataDir, 'weave.pid'));
    this.statusApi = new StatusApi({
      addr: config.statusAddr,
      provider: this,
      metrics: createMetrics(() => this.status()),
      logger: componentLogger(root, 'status-api'),
      routes: (app) => {
        parts.httpRoutes?.(app);
        for (const service of parts.services ?? []) service.routes?.(app);
      },
    });
    const docker = new DockerClient(config.dockerSocket);
    this.dockerSync = new DockerSync({ docker, target: parts.plugin, logger: componentLogger(root, 'docker-sync') });
    this.defaultNetwork = new DefaultNetwork({
      docker,
      logger: componentLogger(root, 'default-network'),
      name: config.defaultNetworkName,
      subnet: config.ipallocDefaultSubnet,
      driver: 'weave',
    });
  }

  async start(): Promise<void> {
    const { config, parts } = this;
    try {
      await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
      await this.pidFile.acquire();
      this.stops.push(() => this.pidFile.release());
      await parts.datapath.start();
      this.stops.push(() => parts.datapath.stop());
      const bridge = await parts.datapath.ensureBridge({ name: config.bridgeName, mtu: config.mtu });
      this.log.info('bridge ready', { name: bridge.name, index: bridge.index, mtu: bridge.mtu });
      if (parts.router) {
        const router = parts.router;
        await router.start();
        this.stops.push(() => router.stop());
      }
      await parts.ipam.start();
      this.stops.push(() => parts.ipam.stop());
      for (const service of parts.services ?? []) {
        await service.start();
        this.stops.push(() => service.stop());
      }
      await parts.plugin.start();
      this.stops.push(() => parts.plugin.stop());
      await parts.plugin.reconcile();
      await this.statusApi.start();
      this.stops.push(() => this.statusApi.stop());
      await this.dockerSync.start();
      this.stops.push(() => this.dockerSync.stop());
      if (config.defaultNetwork) {
        await this.defaultNetwork.start();
        this.stops.push(() => this.defaultNetwork.stop());
      }
      this.log.info('weave daemon started', { version: packageVersion(), pid: process.pid, dataDir: config.dataDir });
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Stops services in reverse order. The bridge and container links stay: running containers
   *  keep talking while the daemon is down or restarting. */
  async stop(): Promise<void> {
    await this.stops.unwind();
  }

  connect(peers: string[], replace: boolean): string[] {
    if (!this.parts.router) throw new Error('the router is disabled (--no-router)');
    return this.parts.router.connect(peers, replace);
  }

  forget(peers: string[]): void {
    if (!this.parts.router) throw new Error('the router is disabled (--no-router)');
    this.parts.router.forget(peers);
  }

  async status(): Promise<DaemonStatus> {
    const { config, parts } = this;
    let bridge: DaemonStatus['bridge'];
    try {
      const link = await parts.datapath.getLink(config.bridgeName);
      bridge = link
        ? { name: link.name, mtu: link.mtu, index: link.index, up: link.up, mac: link.mac }
        : { name: config.bridgeName, error: 'bridge is missing' };
    } catch (err) {
      bridge = { name: config.bridgeName, error: err instanceof Error ? err.message : String(err) };
    }
    return {
      version: packageVersion(),
      pid: process.pid,
      dataDir: config.dataDir,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      bridge,
      plugin: parts.plugin.status(),
      ipam: parts.ipam.status(),
      defaultNetwork: config.defaultNetwork ? this.defaultNetwork.status() : { name: config.defaultNetworkName, state: 'disabled' },
      ...(parts.router ? { router: parts.router.status() } : {}),
      services: Object.fromEntries((parts.services ?? []).map((s) => [s.name, s.status?.()])),
    };
  }
}
