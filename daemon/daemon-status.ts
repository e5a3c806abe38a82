// The daemon's status as GET /status serves it: its own file so that the daemon, the metrics
// computed from it and the CLI that prints it all depend on this type, not on each other.
import type { Ipam } from '../ipam/contract.ts';
import type { DefaultNetworkStatus } from './default-network.ts';

export interface DaemonStatus {
  version: string;
  pid: number;
  dataDir: string;
  uptimeSeconds: number;
  bridge: { name: string; mtu: number; index: number; up: boolean; mac: string } | { name: string; error: string };
  plugin: unknown;
  ipam: ReturnType<Ipam['status']>;
  defaultNetwork: DefaultNetworkStatus;
  router?: unknown;
  /** Each further service's status by its name (daemon.ts ServicePart). */
  services: Record<string, unknown>;
}
