// weaveDNS as one of the daemon's services: its address on the weave bridge, the DNS service, the
// container watcher that tells it which containers exist, and its control routes. Built here so
// that dns/ sees neither Docker nor netlink.
import type { Logger } from '../common/logger.ts';
import { componentLogger } from '../common/logger.ts';
import type { Datapath } from '../datapath/contract.ts';
import { DnsService, type DnsMesh } from '../dns/dns-service.ts';
import type { DaemonConfig } from './config.ts';
import type { ContainerInfo } from './container-info.ts';
import { ContainerWatcher } from './container-watcher.ts';
import type { ServicePart } from './daemon.ts';
import { mountDnsApi } from './dns-api.ts';
import { DnsRegistrar, type ContainerDirectory, type ContainerView } from './dns-registrar.ts';
import { DockerClient } from './docker-client.ts';

/** How long a query from an address we do not know yet waits for the watcher: a container's
 *  first lookup can come before Docker's start event has been processed (tens of ms). Docker's
 *  resolver waits 4 s for an answer. */
const UNKNOWN_CLIENT_WAIT_MS = 1500;

export interface DnsPartOptions {
  config: DaemonConfig;
  datapath: Datapath;
  /** The mesh once the router runs; undefined with --no-router. */
  mesh?: () => DnsMesh;
  localName?: string;
  logger: Logger;
}

/** The service part, and the DNS service itself for the daemon's other users of names
 *  (`weave expose -h`). */
export interface DnsPart {
  part: ServicePart;
  dns: DnsService;
}

export function buildDnsPart(opts: DnsPartOptions): DnsPart {
  const { config, datapath } = opts;
  const log = componentLogger(opts.logger, 'dns');
  const watcher = new ContainerWatcher({ docker: new DockerClient(config.dockerSocket), logger: componentLogger(opts.logger, 'container-watcher') });
  const view = (info: ContainerInfo): ContainerView => ({
    id: info.id,
    name: info.name,
    hostname: info.hostname,
    weave: watcher.weaveNetworks(info).filter((n) => n.ipv4 !== '').map((n) => ({ networkName: n.networkName, ipv4: n.ipv4, aliases: n.aliases, subnets: n.subnets })),
  });
  const directory: ContainerDirectory = {
    byIp: (ip) => {
      const info = watcher.byIp(ip);
      return info ? view(info) : undefined;
    },
    refreshIp: async (ip) => {
      const deadline = Date.now() + UNKNOWN_CLIENT_WAIT_MS;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        const info = watcher.byIp(ip);
        if (info) return view(info);
      }
      return undefined;
    },
  };
  const dns: DnsService = new DnsService({
    domain: config.dnsDomain,
    address: config.dnsAddress,
    port: config.dnsPort,
    ttl: config.dnsTtl,
    resolvConf: config.resolvConf,
    ...(opts.mesh ? { mesh: opts.mesh } : {}),
    ...(opts.localName !== undefined ? { localName: opts.localName } : {}),
    // the registrar is made next; the server asks it only once it is serving
    scope: (ip) => registrar.scope(ip),
    logger: opts.logger,
  });
  const registrar: DnsRegistrar = new DnsRegistrar({ dns: () => dns, containers: directory, ownAddress: config.dnsAddress, logger: log });
  const guarded =
    (what: string, fn: () => void): (() => void) =>
    () => {
      try {
        fn();
      } catch (err) {
        log.warn(`cannot ${what}`, { error: err instanceof Error ? err.message : String(err) });
      }
    };
  let unlisten: (() => void) | undefined;
  let failure: string | undefined;

  const part: ServicePart = {
    name: 'dns',
    async start() {
      // names are a convenience on top of the network: if DNS cannot start (port 53 taken, no
      // CAP_NET_BIND_SERVICE), the daemon runs on, and status and the log say why
      try {
        // kept when we stop: queries are then refused at once instead of timing out
        await datapath.ensureAddress(config.bridgeName, `${config.dnsAddress}/32`);
        await dns.start();
      } catch (err) {
        failure = `cannot start weaveDNS on ${config.dnsAddress}:${config.dnsPort}: ${err instanceof Error ? err.message : String(err)}`;
        log.error(failure);
        return;
      }
      failure = undefined;
      unlisten = watcher.addListener({
        onUpsert: (info) => guarded(`register ${info.name}`, () => registrar.upsert(view(info)))(),
        onRemove: (id) => guarded(`remove container ${id}`, () => registrar.remove(id))(),
      });
      await watcher.start();
    },
    async stop() {
      await watcher.stop();
      unlisten?.();
      await dns.stop();
    },
    status: () => (failure !== undefined ? { error: failure } : dns.status()),
    routes: (app) => mountDnsApi(app, { dns, logger: log }),
  };
  return { part, dns };
}
