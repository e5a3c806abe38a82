import { componentLogger, type Logger } from '../common/logger.ts';
import { LinuxDatapath } from '../datapath/linux-datapath.ts';
import type { Express } from 'express';
import { LocalIpam } from '../ipam/local-ipam.ts';
import { hostname, networkInterfaces } from 'node:os';
import { consensusCount, parseIpallocInit, type IpamMesh } from '../ipam/ipam-mesh.ts';
import { RingIpam } from '../ipam/ring-ipam.ts';
import { mountIpamApi } from './ipam-api.ts';
import { PluginServer } from '../plugin/plugin-server.ts';
import { RouterService } from '../router/router-service.ts';
import { TapCapture } from '../datapath/capture/tap-capture.ts';
import { UdpSockets } from '../datapath/datagram/udp-sockets.ts';
import { chooseFastPath } from './fastpath-choice.ts';
import { buildDnsPart } from './dns-part.ts';
import { ExposeService } from './expose-service.ts';
import type { DnsMesh } from '../dns/dns-service.ts';
import type { DaemonConfig } from './config.ts';
import type { DaemonParts } from './daemon.ts';

/** The composition root: the one place that picks and builds implementations. Every other module
 *  receives what it uses through a contract (the router gets the capture, the sleeve's sockets and
 *  the fast path from here; the IPAM gets the mesh's gossip). */
export function assembleParts(config: DaemonConfig, root: Logger): DaemonParts {
  const datapath = new LinuxDatapath({ logger: componentLogger(root, 'datapath') });
  const router = config.router ? buildRouter(config, root) : undefined;
  // with a mesh, addresses come from the gossiped ring; without one, from this host alone
  const ringIpam = router
    ? new RingIpam({
        dataDir: config.dataDir,
        range: config.ipallocRange,
        defaultSubnet: config.ipallocDefaultSubnet,
        // Weave's script: consensus among the peers named at launch plus ourselves
        init: parseIpallocInit(config.ipallocInit ?? 'consensus', consensusCount(config.peers, ownAddresses())),
        mesh: () => ipamMeshOf(router),
        logger: componentLogger(root, 'ipam'),
      })
    : undefined;
  const ipam =
    ringIpam ??
    new LocalIpam({
      dataDir: config.dataDir,
      range: config.ipallocRange,
      defaultSubnet: config.ipallocDefaultSubnet,
      logger: componentLogger(root, 'ipam'),
    });
  const dns = config.dns
    ? buildDnsPart({
        config,
        datapath,
        // without a mesh the names stay on this host; the origin name then only labels them
        ...(router ? { mesh: () => dnsMeshOf(router) } : { localName: '00:00:00:00:00:00' }),
        logger: root,
      })
    : undefined;
  const expose: ExposeService = new ExposeService({
    dataDir: config.dataDir,
    datapath,
    ipam,
    // the plugin owns the isolation policy; it is built next and only asked once running
    isolation: { refreshIsolation: () => plugin.refreshIsolation() },
    ...(dns ? { names: dns.dns } : {}),
    bridgeName: config.bridgeName,
    mtu: config.mtu,
    defaultSubnet: config.ipallocDefaultSubnet,
    hostname: hostname(),
    logger: componentLogger(root, 'expose'),
  });
  const plugin = new PluginServer({
    socketPath: config.pluginSocket,
    ipam,
    datapath,
    dataDir: config.dataDir,
    logger: componentLogger(root, 'plugin'),
    bridgeName: config.bridgeName,
    mtu: config.mtu,
    hostPorts: () => expose.hostPorts(),
    reservedAddresses: () => expose.reservedAddresses(),
  });
  const httpRoutes = ringIpam
    ? (app: Express): void => mountIpamApi(app, { allocator: ringIpam.allocator, defaultSubnet: config.ipallocDefaultSubnet, logger: componentLogger(root, 'ipam-api') })
    : undefined;
  // DNS first: the expose service registers names as it starts
  const services = [...(dns ? [dns.part] : []), expose];
  return { datapath, ipam, plugin, ...(router ? { router } : {}), ...(httpRoutes ? { httpRoutes } : {}), services };
}

function buildRouter(config: DaemonConfig, root: Logger): RouterService {
  return new RouterService({
    dataDir: config.dataDir,
    logger: root,
    openCapture: (onFrame) => TapCapture.open({ bridge: config.bridgeName, logger: root, onFrame, offloads: config.sleeveOffloads }),
    sockets: new UdpSockets({ offloads: config.sleeveOffloads }),
    bridgeMtu: config.mtu,
    port: config.port,
    ...(config.host !== undefined ? { host: config.host } : {}),
    ...(config.password !== undefined ? { password: new TextEncoder().encode(config.password) } : {}),
    peers: config.peers,
    // with no peers on the command line, a restarted daemon rejoins the peers it had
    resume: config.peers.length === 0,
    connLimit: config.connLimit,
    discovery: config.discovery,
    fastPath: chooseFastPath(config, componentLogger(root, 'fastpath')),
    ...(config.name !== undefined ? { name: config.name } : {}),
    ...(config.nickname !== undefined ? { nickname: config.nickname } : {}),
  });
}

function ownAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .map((i) => i?.address ?? '')
    .filter((a) => a !== '');
}

/** The IPAM's narrow view of the running mesh router. */
function ipamMeshOf(router: RouterService): IpamMesh {
  const { mesh, identity } = router.meshAccess();
  return {
    ourName: identity.name,
    ourUid: identity.uid,
    ourNickname: identity.nickname,
    newGossip: (channel, gossiper) => mesh.newGossip(channel, gossiper),
    knownPeers: () => mesh.status().Peers.map((p) => ({ name: p.Name, nickname: p.NickName })),
    reachable: (name) => name === identity.name || mesh.connections().some((c) => c.remote.name === name) || mesh.unicastNextHop(name) !== undefined,
  };
}

/** DNS's narrow view of the running mesh router. */
function dnsMeshOf(router: RouterService): DnsMesh {
  const { mesh, identity } = router.meshAccess();
  return {
    ourName: identity.name,
    newGossip: (channel, gossiper) => mesh.newGossip(channel, gossiper),
    knownPeer: (name) => mesh.peer(name) !== undefined,
    onPeerRemoved: (listener) => mesh.onPeerRemoved((p) => listener(p.name)),
  };
}
