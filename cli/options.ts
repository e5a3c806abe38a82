import { Option, type Command } from 'commander';
import { withTrailingDot, type DaemonConfig } from '../daemon/config.ts';

/** Flags shared by `launch` and `daemon`: launch passes them through to the daemon it starts. */
export function addDaemonOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--data-dir <dir>', 'state directory (default /var/lib/weave, env WEAVE_DATA_DIR)'))
    .addOption(new Option('--mtu <n>', 'MTU of the bridge and container interfaces (default 1376, env WEAVE_MTU)'))
    .addOption(new Option('--ipalloc-range <cidr>', 'address range weave hands subnets out of (default 10.32.0.0/12, env IPALLOC_RANGE)'))
    .addOption(new Option('--ipalloc-init <mode>', 'how the address ring is first made: consensus[=N] (default, N = peers given + 1), seed=NAME[,NAME...] or observer (env IPALLOC_INIT)'))
    .addOption(new Option('--ipalloc-default-subnet <cidr>', 'subnet of the default network "weave" (default 10.32.0.0/16)'))
    .addOption(new Option('--plugin-socket <path>', 'Docker plugin socket (default /run/docker/plugins/weave.sock)'))
    .addOption(new Option('--status-addr <host:port>', 'status/control HTTP API (default 127.0.0.1:6784, env WEAVE_STATUS_ADDR)'))
    .addOption(new Option('--docker-socket <path>', 'Docker Engine API socket (default /var/run/docker.sock)'))
    .addOption(new Option('--log-level <level>', 'error, warn, info or debug (default info)'))
    .addOption(new Option('--no-default-network', 'do not create the Docker network "weave"'))
    .addOption(new Option('--password <secret>', 'encrypt control and data traffic (prefer env WEAVE_PASSWORD: argv is visible in ps)'))
    .addOption(new Option('--port <n>', 'TCP control and UDP sleeve port (default 6783)'))
    .addOption(new Option('--host <addr>', 'address to listen on for peers (default all)'))
    .addOption(new Option('--name <mac>', 'peer name (default: derived from the machine id and kept in the data dir)'))
    .addOption(new Option('--nickname <name>', 'peer nickname (default: host name)'))
    .addOption(new Option('--conn-limit <n>', 'maximum number of peer connections (default 200, 0 = unlimited)'))
    .addOption(new Option('--no-discovery', 'do not connect to peers learnt from other peers'))
    .addOption(new Option('--no-fastdp', 'no kernel fast data path: every connection uses sleeve (env WEAVE_NO_FASTDP)'))
    .addOption(new Option('--sleeve-offloads', 'sleeve with TSO on the capture and UDP GSO/GRO (env WEAVE_SLEEVE_OFFLOADS=1; off by default for now)'))
    .addOption(new Option('--fastdp-backend <kind>', 'auto (default: the Open vSwitch datapath where the kernel has it, else vxlan devices), odp or vxlan (env WEAVE_FASTDP_BACKEND)'))
    .addOption(new Option('--no-router', 'no mesh: a single-host network'))
    .addOption(new Option('--no-dns', 'no weaveDNS (env WEAVE_NO_DNS)'))
    .addOption(new Option('--dns-domain <domain>', 'domain of container names (default weave.local., env WEAVE_DNS_DOMAIN)'))
    .addOption(new Option('--dns-address <ip>', 'address of the DNS server, put on the weave bridge; point Docker\'s "dns" setting at it (default 169.254.53.53, env WEAVE_DNS_ADDRESS)'))
    .addOption(new Option('--dns-port <n>', 'UDP and TCP port of the DNS server (default 53)'))
    .addOption(new Option('--dns-ttl <seconds>', 'TTL of weaveDNS answers (default 1)'))
    .addOption(new Option('--resolv-conf <path>', 'where upstream DNS servers are read from (default /etc/resolv.conf)'));
}

export interface DaemonFlags {
  dataDir?: string;
  mtu?: string;
  ipallocRange?: string;
  ipallocDefaultSubnet?: string;
  ipallocInit?: string;
  pluginSocket?: string;
  statusAddr?: string;
  dockerSocket?: string;
  logLevel?: string;
  defaultNetwork?: boolean;
  password?: string;
  port?: string;
  host?: string;
  name?: string;
  nickname?: string;
  connLimit?: string;
  discovery?: boolean;
  router?: boolean;
  fastdp?: boolean;
  fastdpBackend?: string;
  sleeveOffloads?: boolean;
  dns?: boolean;
  dnsDomain?: string;
  dnsAddress?: string;
  dnsPort?: string;
  dnsTtl?: string;
  resolvConf?: string;
}

export function flagsToConfig(f: DaemonFlags, peers?: string[]): Partial<DaemonConfig> {
  return {
    password: f.password,
    port: f.port === undefined ? undefined : Number(f.port),
    host: f.host,
    name: f.name,
    nickname: f.nickname,
    connLimit: f.connLimit === undefined ? undefined : Number(f.connLimit),
    discovery: f.discovery === false ? false : undefined,
    fastdp: f.fastdp === false ? false : undefined,
    fastdpBackend: f.fastdpBackend as DaemonConfig['fastdpBackend'] | undefined,
    sleeveOffloads: f.sleeveOffloads === true ? true : undefined,
    router: f.router === false ? false : undefined,
    peers: peers !== undefined && peers.length > 0 ? peers : undefined,
    dataDir: f.dataDir,
    mtu: f.mtu === undefined ? undefined : Number(f.mtu),
    ipallocRange: f.ipallocRange,
    ipallocDefaultSubnet: f.ipallocDefaultSubnet,
    ipallocInit: f.ipallocInit,
    pluginSocket: f.pluginSocket,
    statusAddr: f.statusAddr,
    dockerSocket: f.dockerSocket,
    logLevel: f.logLevel as DaemonConfig['logLevel'] | undefined,
    // commander sets defaultNetwork=true unless --no-default-network is given
    defaultNetwork: f.defaultNetwork === false ? false : undefined,
    dns: f.dns === false ? false : undefined,
    dnsDomain: f.dnsDomain === undefined ? undefined : withTrailingDot(f.dnsDomain),
    dnsAddress: f.dnsAddress,
    dnsPort: f.dnsPort === undefined ? undefined : Number(f.dnsPort),
    dnsTtl: f.dnsTtl === undefined ? undefined : Number(f.dnsTtl),
    resolvConf: f.resolvConf,
  };
}

/** The flags again as argv, for launch to hand to the detached daemon. */
export function flagsToArgv(f: DaemonFlags): string[] {
  const argv: string[] = [];
  const pairs: [keyof DaemonFlags, string][] = [
    ['dataDir', '--data-dir'],
    ['mtu', '--mtu'],
    ['ipallocRange', '--ipalloc-range'],
    ['ipallocDefaultSubnet', '--ipalloc-default-subnet'],
    ['ipallocInit', '--ipalloc-init'],
    ['pluginSocket', '--plugin-socket'],
    ['statusAddr', '--status-addr'],
    ['dockerSocket', '--docker-socket'],
    ['logLevel', '--log-level'],
    ['port', '--port'],
    ['host', '--host'],
    ['name', '--name'],
    ['nickname', '--nickname'],
    ['connLimit', '--conn-limit'],
    ['fastdpBackend', '--fastdp-backend'],
    ['dnsDomain', '--dns-domain'],
    ['dnsAddress', '--dns-address'],
    ['dnsPort', '--dns-port'],
    ['dnsTtl', '--dns-ttl'],
    ['resolvConf', '--resolv-conf'],
  ];
  for (const [key, flag] of pairs) {
    const v = f[key];
    if (typeof v === 'string') argv.push(flag, v);
  }
  if (f.defaultNetwork === false) argv.push('--no-default-network');
  if (f.discovery === false) argv.push('--no-discovery');
  if (f.fastdp === false) argv.push('--no-fastdp');
  if (f.sleeveOffloads === true) argv.push('--sleeve-offloads');
  if (f.router === false) argv.push('--no-router');
  if (f.dns === false) argv.push('--no-dns');
  // --password is deliberately not passed on: launch hands it over in WEAVE_PASSWORD
  return argv;
}
