import { z } from 'zod';

const cidr4 = z
  .string()
  .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d|[12]\d|3[0-2])$/, 'must be an IPv4 CIDR such as 10.32.0.0/12')
  .refine((s) => s.split('/')[0]!.split('.').every((o) => Number(o) <= 255), 'octet out of range');

const hostPort = z.string().regex(/^[^:\s]+:\d{1,5}$/, 'must be HOST:PORT');

/** Everything the daemon can be told, from flags or environment; validated once at start so a
 *  typo fails fast with a clear message instead of half-starting. */
export const DaemonConfigSchema = z
  .object({
    dataDir: z.string().min(1),
    bridgeName: z.string().min(1).max(15),
    mtu: z.number().int().min(576).max(65535),
    ipallocRange: cidr4,
    ipallocDefaultSubnet: cidr4,
    pluginSocket: z.string().min(1),
    statusAddr: hostPort,
    dockerSocket: z.string().min(1),
    defaultNetwork: z.boolean(),
    defaultNetworkName: z.string().min(1),
    logLevel: z.enum(['error', 'warn', 'info', 'debug']),
    router: z.boolean(),
    port: z.number().int().min(1).max(65535),
    host: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    peers: z.array(z.string().min(1)),
    connLimit: z.number().int().min(0),
    discovery: z.boolean(),
    /** Kernel fast data path (vxlan on UDP port+1); false = --no-fastdp. */
    fastdp: z.boolean(),
    /** Which kernel fast path: ODP where the kernel has it, else vxlan devices (auto); or one of them. */
    fastdpBackend: z.enum(['auto', 'odp', 'vxlan']),
    /** Sleeve offloads: TSO super-frames from the capture TAP, UDP GSO/GRO (docs/performance.md). */
    sleeveOffloads: z.boolean(),
    name: z.string().regex(/^[0-9a-fA-F:]+$/, 'must be a MAC-style peer name').optional(),
    nickname: z.string().min(1).optional(),
    /** --ipalloc-init: consensus[=N] | seed=NAME,... | observer; undefined = consensus with N = peers given + 1. */
    ipallocInit: z.string().min(1).optional(),
    /** weaveDNS; false = --no-dns. */
    dns: z.boolean(),
    /** Names are registered as NAME and NAME.<domain>; stored with a trailing dot. */
    dnsDomain: z
      .string()
      .regex(/^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+$/, 'must be a domain name such as weave.local.')
      .max(200),
    /** The address the DNS server listens on, put on the weave bridge: what Docker's `dns`
     *  setting points at (docs/dns.md). */
    dnsAddress: z.string().regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, 'must be an IPv4 address'),
    dnsPort: z.number().int().min(1).max(65535),
    /** Seconds; Weave's default is 1 so that a moved container is found again at once. */
    dnsTtl: z.number().int().min(0).max(86400),
    /** Upstream servers for every other name come from here (re-read when it changes). */
    resolvConf: z.string().min(1),
  })
  .strict();

export type DaemonConfig = z.infer<typeof DaemonConfigSchema>;

export const DEFAULTS: DaemonConfig = {
  dataDir: '/var/lib/weave',
  bridgeName: 'weave',
  // 1376 leaves room for VXLAN (50) and an ESP allowance on a 1460-byte cloud underlay, as Weave does
  mtu: 1376,
  ipallocRange: '10.32.0.0/12',
  ipallocDefaultSubnet: '10.32.0.0/16',
  pluginSocket: '/run/docker/plugins/weave.sock',
  statusAddr: '127.0.0.1:6784',
  dockerSocket: '/var/run/docker.sock',
  defaultNetwork: true,
  defaultNetworkName: 'weave',
  logLevel: 'info',
  router: true,
  port: 6783,
  peers: [],
  connLimit: 200,
  discovery: true,
  fastdp: true,
  fastdpBackend: 'auto',
  // off until the offloads have run the whole e2e suite on a quiet machine (docs/performance.md)
  sleeveOffloads: false,
  dns: true,
  dnsDomain: 'weave.local.',
  // link-local, so it never collides with a routed network; containers reach it through their
  // default route (docker_gwbridge), which lets the server tell them apart (docs/dns.md)
  dnsAddress: '169.254.53.53',
  dnsPort: 53,
  dnsTtl: 1,
  resolvConf: '/etc/resolv.conf',
};

/** Environment variables a managed plugin or container can be configured with. */
export function configFromEnv(env: NodeJS.ProcessEnv): Partial<DaemonConfig> {
  const out: Partial<DaemonConfig> = {};
  if (env.WEAVE_DATA_DIR) out.dataDir = env.WEAVE_DATA_DIR;
  if (env.WEAVE_MTU) out.mtu = Number(env.WEAVE_MTU);
  if (env.IPALLOC_RANGE) out.ipallocRange = env.IPALLOC_RANGE;
  if (env.IPALLOC_INIT) out.ipallocInit = env.IPALLOC_INIT;
  if (env.IPALLOC_DEFAULT_SUBNET) out.ipallocDefaultSubnet = env.IPALLOC_DEFAULT_SUBNET;
  if (env.WEAVE_STATUS_ADDR) out.statusAddr = env.WEAVE_STATUS_ADDR;
  if (env.WEAVE_PLUGIN_SOCKET) out.pluginSocket = env.WEAVE_PLUGIN_SOCKET;
  if (env.LOG_LEVEL) out.logLevel = env.LOG_LEVEL as DaemonConfig['logLevel'];
  // the password travels by environment, never argv, so `ps` does not show it
  if (env.WEAVE_PASSWORD) out.password = env.WEAVE_PASSWORD;
  if (env.WEAVE_NO_FASTDP) out.fastdp = false;
  if (env.WEAVE_SLEEVE_OFFLOADS) out.sleeveOffloads = env.WEAVE_SLEEVE_OFFLOADS !== '0';
  if (env.WEAVE_FASTDP_BACKEND) out.fastdpBackend = env.WEAVE_FASTDP_BACKEND as DaemonConfig['fastdpBackend'];
  if (env.WEAVE_NO_DNS) out.dns = false;
  if (env.WEAVE_DNS_DOMAIN) out.dnsDomain = withTrailingDot(env.WEAVE_DNS_DOMAIN);
  if (env.WEAVE_DNS_ADDRESS) out.dnsAddress = env.WEAVE_DNS_ADDRESS;
  if (env.WEAVE_RESOLV_CONF) out.resolvConf = env.WEAVE_RESOLV_CONF;
  if (env.WEAVE_PEERS) out.peers = env.WEAVE_PEERS.split(/[\s,]+/).filter((p) => p.length > 0);
  return out;
}

/** `weave.local` and `weave.local.` name the same domain; we keep the absolute form. */
export function withTrailingDot(domain: string): string {
  return domain.endsWith('.') ? domain : `${domain}.`;
}

export function resolveConfig(...layers: Partial<DaemonConfig>[]): DaemonConfig {
  const merged: Record<string, unknown> = { ...DEFAULTS };
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) if (v !== undefined) merged[k] = v;
  }
  const parsed = DaemonConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${msg}`);
  }
  return parsed.data;
}
