import { componentLogger, type Logger } from '../common/logger.ts';
import { LinuxDatapath } from '../datapath/linux-datapath.ts';
import { LocalIpam } from '../ipam/local-ipam.ts';
import { PluginServer } from '../plugin/plugin-server.ts';
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
  return { datapath, ipam, plugin };
}
