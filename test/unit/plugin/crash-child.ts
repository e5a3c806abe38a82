// Child process for the kill -9 test: serves the plugin on argv[3] with state in argv[2], prints
// "ready" and then waits to be killed.

import { silentLogger } from '../../../common/logger.ts';
import { LocalIpam } from '../../../ipam/local-ipam.ts';
import { PluginServer } from '../../../plugin/plugin-server.ts';
import { FakeDatapath } from './fake-datapath.ts';
import { BRIDGE, MTU } from './plugin-fixture.ts';

const [dataDir, socketPath] = process.argv.slice(2);
if (dataDir === undefined || socketPath === undefined) throw new Error('usage: crash-child <dataDir> <socketPath>');
const ipam = new LocalIpam({ dataDir, logger: silentLogger() });
await ipam.start();
const server = new PluginServer({ socketPath, ipam, datapath: new FakeDatapath(BRIDGE), dataDir, logger: silentLogger(), bridgeName: BRIDGE, mtu: MTU });
await server.start();
process.stdout.write('ready\n');
setInterval(() => undefined, 60_000);
