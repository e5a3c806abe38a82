// Inputs for the Docker plugin socket: every endpoint, bodies that are not JSON, wrong types,
// missing fields, bad CIDRs/MACs/IDs, huge bodies, and well-formed calls on a small set of
// fuzz-owned names in any order, twice, or hung up on mid-request.
import type { Rng } from './rng.ts';

export const PLUGIN_ROUTES = [
  '/Plugin.Activate', '/NetworkDriver.GetCapabilities', '/NetworkDriver.GwAllocCheck', '/NetworkDriver.CreateNetwork',
  '/NetworkDriver.DeleteNetwork', '/NetworkDriver.CreateEndpoint', '/NetworkDriver.EndpointOperInfo', '/NetworkDriver.DeleteEndpoint',
  '/NetworkDriver.Join', '/NetworkDriver.Leave', '/NetworkDriver.ProgramExternalConnectivity', '/NetworkDriver.RevokeExternalConnectivity',
  '/NetworkDriver.DiscoverNew', '/NetworkDriver.DiscoverDelete', '/NetworkDriver.AllocateNetwork', '/NetworkDriver.FreeNetwork',
  '/IpamDriver.GetCapabilities', '/IpamDriver.GetDefaultAddressSpaces', '/IpamDriver.RequestPool', '/IpamDriver.ReleasePool',
  '/IpamDriver.RequestAddress', '/IpamDriver.ReleaseAddress',
] as const;

/** Fuzz-owned names: every network and endpoint a well-formed call may create is one of these
 *  (or is learnt from a 200 reply), so the run can remove all of it afterwards. */
export const FUZZ_NETWORKS = 6;
export const FUZZ_ENDPOINTS = 12;
export const fuzzNetwork = (k: number): string => `fuzznet${k}`;
/** Distinct in the first 9 characters, which name the endpoint's veth (as Docker's IDs are). */
export const fuzzEndpoint = (j: number): string => `${String(j).padStart(2, '0')}fuzzep0000`;
/** Outside the lab's networks and the IPAM range, so fuzz pools never meet real ones. */
export const fuzzSubnet = (k: number): string => `10.99.${k}.0/24`;

/** Hung-up creates use names nothing else uses, so whatever they leave behind is a leak that no
 *  cleanup masks: one network (made by the runner first) with one pool for their endpoints and
 *  addresses, their own networks and pools. */
export const HANG_NETWORK = 'hangnet';
export const HANG_SUBNET = '10.97.0.0/16';
export const hangPoolSubnet = (u: number): string => `10.98.${u & 0xff}.0/24`;
export const isHangEndpoint = (id: string): boolean => /^h\d{8}$/.test(id);

export interface PluginInput {
  path: string;
  body: string | Buffer;
  /** Hang up this many ms after sending (the answer is never read). */
  hangUpAfterMs?: number;
  /** For calls whose PoolID the runner fills in from pools it was granted (index into them). */
  poolOf?: number;
  what: string;
  /** The generator's category (for timing). */
  kind?: string;
}

const BAD_IDS = ['', 'short', '../../etc/passwd', 'a'.repeat(129), 'a'.repeat(100_000), 'vethwl0', '\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000', 'fuzzep 00001', 'ÅÅÅÅÅÅÅÅÅÅ', '-rf --no-preserve-root'];
const BAD_CIDRS = ['', '10.0.0.0/33', '10.0.0.0', '256.1.1.1/24', '010.1.1.0/24', ' 10.1.1.0/24', 'fe80::/64', '::/0', '0.0.0.0/0', '10.99.0.5/24', '10.1.1.1/32', '10.1.1.0/31', '1.2.3.4/-1', 'x/y', '10.1.1.0/24\n', '1e3.1.1.1/8'];
const BAD_MACS = ['zz', '02:42:ac:11:00', '02:42:ac:11:00:02:03', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00', '01:00:5e:00:00:01', '02-42-ac-11-00-02', 'GG:00:00:00:00:00'];

function template(r: Rng, path: string, k: number, j: number): Record<string, unknown> | undefined {
  const NetworkID = fuzzNetwork(k);
  const EndpointID = fuzzEndpoint(j);
  const pool = fuzzSubnet(k);
  switch (path) {
    case '/NetworkDriver.CreateNetwork':
      return {
        NetworkID,
        Options: { 'com.docker.network.generic': r.bool(0.3) ? { 'works.weave.multicast': r.pick(['true', 'false', 'maybe']) } : {} },
        IPv4Data: [{ AddressSpace: r.pick(['weavelocal', 'weaveglobal']), Pool: pool, Gateway: `10.99.${k}.0/24` }],
      };
    case '/NetworkDriver.AllocateNetwork':
      return { NetworkID, Options: {}, IPv4Data: [{ AddressSpace: 'weavelocal', Pool: pool }] };
    case '/NetworkDriver.DeleteNetwork':
    case '/NetworkDriver.FreeNetwork':
      return { NetworkID };
    case '/NetworkDriver.CreateEndpoint':
      return {
        NetworkID, EndpointID,
        Interface: { Address: `10.99.${k}.${r.range(1, 254)}/24`, ...(r.bool(0.3) ? { MacAddress: `02:42:0a:63:${k.toString(16).padStart(2, '0')}:${j.toString(16).padStart(2, '0')}` } : {}) },
        Options: {},
      };
    case '/NetworkDriver.Join':
      return { NetworkID, EndpointID, SandboxKey: `/var/run/docker/netns/fuzz${j}`, Options: {} };
    case '/NetworkDriver.EndpointOperInfo':
    case '/NetworkDriver.DeleteEndpoint':
    case '/NetworkDriver.Leave':
    case '/NetworkDriver.RevokeExternalConnectivity':
      return { NetworkID, EndpointID };
    case '/NetworkDriver.ProgramExternalConnectivity':
      return { NetworkID, EndpointID, Options: {} };
    case '/NetworkDriver.DiscoverNew':
    case '/NetworkDriver.DiscoverDelete':
      return { DiscoveryType: 1, DiscoveryData: { Address: '198.18.0.9', self: false } };
    case '/NetworkDriver.GwAllocCheck':
      return { Options: {} };
    case '/IpamDriver.RequestPool':
      return { AddressSpace: 'weavelocal', Pool: pool, SubPool: r.bool(0.2) ? `10.99.${k}.128/25` : '', Options: {}, V6: false };
    case '/IpamDriver.ReleasePool':
      return { PoolID: '' };
    case '/IpamDriver.RequestAddress':
      return { PoolID: '', Address: r.bool(0.5) ? '' : `10.99.${k}.${r.range(1, 254)}`, Options: { RequestAddressType: 'com.docker.network.gateway' } };
    case '/IpamDriver.ReleaseAddress':
      return { PoolID: '', Address: `10.99.${k}.${r.range(1, 254)}` };
    default:
      return undefined;
  }
}

const FILL_POOL = new Set(['/IpamDriver.ReleasePool', '/IpamDriver.RequestAddress', '/IpamDriver.ReleaseAddress']);

/** One value with a property path set, replaced or removed at random. */
function mutate(r: Rng, body: Record<string, unknown>): { body: unknown; what: string } {
  const keys = Object.keys(body);
  const key = keys.length > 0 ? r.pick(keys) : 'NetworkID';
  const copy: Record<string, unknown> = structuredClone(body);
  switch (r.int(7)) {
    case 0:
      copy[key] = r.json();
      return { body: copy, what: `wrong type for ${key}` };
    case 1:
      for (const k of keys) if (r.bool(0.5)) delete copy[k];
      return { body: copy, what: 'missing fields' };
    case 2:
      if ('NetworkID' in copy) copy['NetworkID'] = r.pick(BAD_IDS);
      if ('EndpointID' in copy) copy['EndpointID'] = r.pick(BAD_IDS);
      if ('PoolID' in copy) copy['PoolID'] = r.pick(BAD_IDS);
      return { body: copy, what: 'bad IDs' };
    case 3: {
      const bad = r.pick(BAD_CIDRS);
      if ('Pool' in copy) copy['Pool'] = bad;
      if ('SubPool' in copy) copy['SubPool'] = r.pick(BAD_CIDRS);
      if ('Address' in copy) copy['Address'] = bad;
      if (Array.isArray(copy['IPv4Data'])) copy['IPv4Data'] = [{ AddressSpace: 'weavelocal', Pool: bad, Gateway: r.pick(BAD_CIDRS) }];
      const iface = copy['Interface'];
      if (iface !== null && typeof iface === 'object') (iface as Record<string, unknown>)['Address'] = bad;
      return { body: copy, what: `bad CIDR ${JSON.stringify(bad)}` };
    }
    case 4: {
      const iface = copy['Interface'];
      if (iface !== null && typeof iface === 'object') (iface as Record<string, unknown>)['MacAddress'] = r.pick(BAD_MACS);
      else copy['Interface'] = { Address: '10.99.0.9/24', MacAddress: r.pick(BAD_MACS) };
      return { body: copy, what: 'bad MAC' };
    }
    case 5:
      for (let i = r.range(1, 5); i > 0; i--) copy[r.string(r.range(1, 10))] = r.json();
      return { body: copy, what: 'unknown fields' };
    default:
      return { body: r.json(3), what: 'random JSON value' };
  }
}

/** Many problems in one body: thousands of wrong entries, or keys, under the 1 MiB limit. */
function wide(r: Rng, path: string): unknown {
  const n = r.range(2000, 20_000);
  switch (r.int(4)) {
    case 0: return { NetworkID: fuzzNetwork(0), IPv4Data: Array.from({ length: n }, () => ({ Pool: 7 })), IPv6Data: Array.from({ length: n }, () => 1) };
    case 1: return { NetworkID: 'x', EndpointID: 'y', Options: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])) };
    case 2: return Object.fromEntries(Array.from({ length: Math.min(n, 20_000) }, (_, i) => [`F${i}`, i]));
    default: return path.includes('Ipam') ? { PoolID: 5, Options: Object.fromEntries(Array.from({ length: n }, (_, i) => [`o${i}`, { x: i }])) } : { DiscoveryType: 'x', DiscoveryData: Array.from({ length: n }, () => ({})) };
  }
}

export function pluginInput(r: Rng): PluginInput {
  const path = r.bool(0.02) ? r.pick(['/', '/NetworkDriver.Bogus', '/Plugin.activate', '/NetworkDriver.Join/x', `/${encodeURIComponent(r.string(20))}`]) : r.pick(PLUGIN_ROUTES);
  const k = r.int(FUZZ_NETWORKS);
  const j = r.int(FUZZ_ENDPOINTS);
  const base = template(r, path, k, j) ?? {};
  const poolOf = FILL_POOL.has(path) ? k : undefined;
  const kind = r.weighted<string>([
    [12, 'wellformed'], [10, 'garbage'], [10, 'truncated'], [45, 'mutated'], [1.5, 'wide'], [0.12, 'huge'], [1, 'deep'], [3, 'empty'],
  ]);
  const withPool = (x: PluginInput): PluginInput => (poolOf === undefined ? { ...x, kind } : { ...x, poolOf, kind });
  switch (kind) {
    case 'wellformed':
      if (r.bool(0.15)) return hangUp(r);
      return withPool({ path, body: JSON.stringify(base), what: 'well-formed' });
    case 'garbage':
      return { kind, path, body: r.bool(0.5) ? r.bytes(r.range(1, 300)) : r.string(r.range(1, 100)), what: 'not JSON' };
    case 'truncated': {
      const text = JSON.stringify(base);
      return { kind, path, body: text.slice(0, r.int(Math.max(1, text.length))), what: 'truncated JSON' };
    }
    case 'mutated': {
      const m = mutate(r, base);
      return withPool({ path, body: JSON.stringify(m.body), what: m.what });
    }
    case 'wide':
      return { kind, path, body: JSON.stringify(wide(r, path)), what: 'thousands of bad entries' };
    case 'huge':
      return { kind, path, body: Buffer.alloc(10 * 1024 * 1024, r.pick(['{', ' ', 'a', '['])), what: '10 MB body' };
    case 'deep': {
      const n = r.range(1000, 100_000);
      return { kind, path, body: `{"NetworkID":${'['.repeat(n)}${']'.repeat(n)}}`, what: `nesting ${n} deep` };
    }
    default:
      return { kind, path, body: r.pick(['', ' ', '{}', '[]', 'null', '0', '""']), what: 'empty or trivial body' };
  }
}

/** A create whose caller hangs up after 0-30 ms, on names used by nothing else. */
function hangUp(r: Rng): PluginInput {
  const u = r.int(100_000_000);
  const hangUpAfterMs = r.pick([0, 1, 2, 5, 10, 20, 30]);
  const kind = 'hang-up';
  switch (r.int(4)) {
    case 0:
      return { kind, hangUpAfterMs, path: '/NetworkDriver.CreateNetwork', what: 'CreateNetwork, caller hangs up', body: JSON.stringify({ NetworkID: `${HANG_NETWORK}${u}`, Options: {}, IPv4Data: [{ AddressSpace: 'weavelocal', Pool: hangPoolSubnet(u) }] }) };
    case 1:
      return { kind, hangUpAfterMs, path: '/NetworkDriver.CreateEndpoint', what: 'CreateEndpoint, caller hangs up', body: JSON.stringify({ NetworkID: HANG_NETWORK, EndpointID: `h${String(u).padStart(8, '0')}`, Interface: { Address: `10.97.${(u >> 8) & 0xff}.${(u & 0xff) || 1}/16` } }) };
    case 2:
      return { kind, hangUpAfterMs, path: '/IpamDriver.RequestPool', what: 'RequestPool, caller hangs up', body: JSON.stringify({ AddressSpace: 'weavelocal', Pool: hangPoolSubnet(u), Options: {} }) };
    default:
      // the runner puts in the PoolID of HANG_SUBNET
      return { kind, hangUpAfterMs, poolOf: -1, path: '/IpamDriver.RequestAddress', what: 'RequestAddress, caller hangs up', body: JSON.stringify({ PoolID: '', Address: `10.97.${(u >> 8) & 0xff}.${(u & 0xff) || 1}` }) };
  }
}
