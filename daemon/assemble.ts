import { componentLogger, type Logger } from '../common/logger.ts';
import { LinuxDatapath } from '../datapath/linux-datapath.ts';
import { LocalIpam } from '../ipam/local-ipam.ts';
import { PluginServer } from '../plugin/plugin-server.ts';
import { RouterService } from '../router/router-service.ts';
import type { DaemonConfig } from './config.ts';
import type { DaemonParts } from './daemon.ts';

/** Build the real implementations behind the daemon's contracts. */
export function assembleParts(config: DaemonConfig, root: Logger): DaemonParts {
  const datapath = new LinuxDatapath({ logger: componentLogger(root, 'datapath') });
  const ipam = new LocalIpam({
    dataDir: config.dataDir,
    range: config.ipallocRange,
    defaultSubnet: config.ipallocDefaultSubnet,
    logger: componentLogger(root, 'ipam'),
  });
  const plugin = new PluginServer({
    socketPath: config.pluginSocket,
    ipam,
    datapath,
    dataDir: config.dataDir,
    logger: componentLogger(root, 'plugin'),
    bridgeName: config.bridgeName,
    mtu: config.mtu,
  });
  const router = config.router
    ? new RouterService({
        dataDir: config.dataDir,
        logger: root,
        bridgeName: config.bridgeName,
        bridgeMtu: config.mtu,
        port: config.port,
        ...(config.host !== undefined ? { host: config.host } : {}),
        ...(config.password !== undefined ? { password: new TextEncoder().encode(config.password) } : {}),
        peers: config.peers,
        // with no peers on the command line, a restarted daemon rejoins the peers it had
        resume: config.peers.length === 0,
        connLimit: config.connLimit,
        discovery: config.discovery,
        fastdp: config.fastdp,
        ...(config.name !== undefined ? { name: config.name } : {}),
        ...(config.nickname !== undefined ? { nickname: config.nickname } : {}),
      })
    : undefined;
  return { datapath, ipam, plugin, ...(router ? { router } : {}) };
}
