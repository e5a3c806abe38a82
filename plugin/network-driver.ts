// Docker's NetworkDriver methods: networks and endpoints on the local `weave` bridge. Addresses
// come from our IPAM driver (Docker asks it before CreateEndpoint); this side only creates the
// veth pair and tells Docker which link to move into the container.

import type { Logger } from '../common/logger.ts';
import type { Datapath, IsolatedNetwork } from '../datapath/contract.ts';
import type { Ipam } from '../ipam/contract.ts';
import {
  allocateNetworkSchema,
  createEndpointSchema,
  createNetworkSchema,
  discoverySchema,
  endpointRefSchema,
  gwAllocCheckSchema,
  joinSchema,
  networkOnlySchema,
  programExternalConnectivitySchema,
  type CreateEndpointRequest,
  type CreateNetworkRequest,
} from './network-driver-schemas.ts';
import type { EndpointRecord, NetworkRecord, NetworkStore } from './network-store.ts';

/** Network and endpoint IDs, as Docker knows them (or as we knew them at start). */
export interface DockerView {
  networks: Set<string>;
  endpoints: Set<string>;
  /** Addresses Docker uses on those networks (endpoints and gateways); absent when not known. */
  addresses?: Set<string>;
}

export interface ForgottenRecords {
  networks: NetworkRecord[];
  endpoints: EndpointRecord[];
}
import { parseNetworkDriverOptions } from './network-options.ts';
import { PluginError } from './plugin-error.ts';
import { noArgs, withBody, type RouteTable } from './route.ts';
import type { RequestContext } from './deadline.ts';
import { isHostVethName, vethNamesFor } from './veth-names.ts';
import { endpointMacFor } from './endpoint-mac.ts';

const GENERIC_OPTIONS = 'com.docker.network.generic';
const NEVER_EXPIRES: RequestContext = { expired: () => false };
const MULTICAST_ROUTE = { Destination: '224.0.0.0/4', RouteType: 1 } as const;
/** The prefix Docker renames the guest veth to inside the container (eth0, eth1, ...). */
const CONTAINER_IFNAME_PREFIX = 'eth';

export interface NetworkDriverDeps {
  store: NetworkStore;
  datapath: Datapath;
  ipam: Ipam;
  logger: Logger;
  bridgeName: string;
  mtu: number;
  /** The host's own ports on weave networks (`weave expose`), by the network's subnet: they
   *  belong to that network's isolation like its containers' ports. */
  hostPorts?: () => HostPortRef[];
}

export interface HostPortRef {
  subnet: string;
  /** The bridge end. */
  port: string;
}

export interface ReconcileReport {
  /** `vethwl*` links without an endpoint record that were deleted. */
  removedLinks: string[];
  /** Endpoint records whose host veth is gone (kept until Docker deletes them). */
  endpointsWithoutLink: string[];
}

export class NetworkDriver {
  private readonly store: NetworkStore;
  private readonly datapath: Datapath;
  private readonly log: Logger;

  constructor(private readonly deps: NetworkDriverDeps) {
    this.store = deps.store;
    this.datapath = deps.datapath;
    this.log = deps.logger;
  }

  routes(): RouteTable {
    return {
      // Local data scope: without swarm there is no shared store for "global" networks (gone
      // since Docker 23), so each host records the network itself. Global connectivity because
      // the same-named network on every host is one L2 overlay.
      '/NetworkDriver.GetCapabilities': noArgs(() => ({ Scope: 'local', ConnectivityScope: 'global' })),
      '/NetworkDriver.GwAllocCheck': withBody('GwAllocCheck', gwAllocCheckSchema, () => ({ SkipIPv4: true, SkipIPv6: true })),
      '/NetworkDriver.CreateNetwork': withBody('CreateNetwork', createNetworkSchema, (req, ctx) => this.createNetwork(req, ctx)),
      '/NetworkDriver.DeleteNetwork': withBody('DeleteNetwork', networkOnlySchema, (req) => this.deleteNetwork(req.NetworkID)),
      '/NetworkDriver.CreateEndpoint': withBody('CreateEndpoint', createEndpointSchema, (req, ctx) => this.createEndpoint(req, ctx)),
      '/NetworkDriver.EndpointOperInfo': withBody('EndpointOperInfo', endpointRefSchema, (req) => this.endpointOperInfo(req.EndpointID)),
      '/NetworkDriver.DeleteEndpoint': withBody('DeleteEndpoint', endpointRefSchema, (req) => this.deleteEndpoint(req.EndpointID)),
      '/NetworkDriver.Join': withBody('Join', joinSchema, (req) => this.join(req.EndpointID, req.SandboxKey)),
      '/NetworkDriver.Leave': withBody('Leave', endpointRefSchema, (req) => this.leave(req.EndpointID)),
      // External connectivity (NAT, published ports) is docker_gwbridge's job, see join().
      '/NetworkDriver.ProgramExternalConnectivity': withBody('ProgramExternalConnectivity', programExternalConnectivitySchema, () => ({})),
      '/NetworkDriver.RevokeExternalConnectivity': withBody('RevokeExternalConnectivity', endpointRefSchema, () => ({})),
      // Swarm node discovery: peers come from our own mesh, not from swarm membership.
      '/NetworkDriver.DiscoverNew': withBody('DiscoverNew', discoverySchema, () => ({})),
      '/NetworkDriver.DiscoverDelete': withBody('DiscoverDelete', discoverySchema, () => ({})),
      // Swarm managers store what we return and hand it to CreateNetwork on every worker; we
      // need nothing beyond the user's options, so echo them.
      '/NetworkDriver.AllocateNetwork': withBody('AllocateNetwork', allocateNetworkSchema, (req) => ({ Options: req.Options ?? {} })),
      '/NetworkDriver.FreeNetwork': withBody('FreeNetwork', networkOnlySchema, () => ({})),
    };
  }

  async createNetwork(req: CreateNetworkRequest, ctx: RequestContext = NEVER_EXPIRES): Promise<object> {
    const options = req.Options ?? {};
    if (options['com.docker.network.enable_ipv6'] === true || (req.IPv6Data ?? []).length > 0) {
      throw new PluginError('IPv6 is not supported by weave yet; create the network without --ipv6 and without an IPv6 subnet');
    }
    const ipv4 = req.IPv4Data ?? [];
    if (ipv4.length === 0) throw new PluginError('weave networks need IPv4; create the network without --ipv4=false');
    const spaces = this.deps.ipam.defaultAddressSpaces();
    const ours = new Set([spaces.local, spaces.global]);
    const foreign = ipv4.find((d) => !ours.has(d.AddressSpace));
    if (foreign !== undefined) {
      // Docker's default IPAM only knows this host, so two hosts would hand out the same
      // addresses on what is one network across hosts.
      throw new PluginError(
        `network uses address space "${foreign.AddressSpace}" of another IPAM driver; weave networks need weave's IPAM ` +
          `so addresses do not collide across hosts. Re-create it with: docker network create -d weave --ipam-driver weave <name>`,
      );
    }
    const driverOptions = parseNetworkDriverOptions(options[GENERIC_OPTIONS] ?? {}, this.log);
    const record: NetworkRecord = {
      id: req.NetworkID,
      addressSpace: ipv4[0]!.AddressSpace,
      subnets: ipv4.flatMap((d) => (d.Pool === undefined || d.Pool === '' ? [] : [d.Pool])),
      multicast: driverOptions.multicast,
      internal: options['com.docker.network.internal'] === true,
    };
    await this.store.exclusive(async () => {
      const existing = this.store.getNetwork(record.id);
      if (existing !== undefined && JSON.stringify(existing) === JSON.stringify(record)) return;
      await this.store.update((s) => void s.networks.set(record.id, record));
      if (ctx.expired()) {
        // Docker was already told this failed; put things back as they were.
        await this.store.update((s) => void (existing === undefined ? s.networks.delete(record.id) : s.networks.set(record.id, existing)));
        this.log.warn('CreateNetwork finished after its deadline or its caller hung up; undone', { networkId: record.id });
        return;
      }
      this.log.info('network created', { ...record });
    });
    return {};
  }

  async deleteNetwork(networkId: string): Promise<object> {
    await this.store.exclusive(async () => {
      if (this.store.getNetwork(networkId) === undefined) return;
      // Docker deletes endpoints first; any left are from a rollback we never heard about.
      const endpoints = this.store.endpointsOf(networkId);
      for (const ep of endpoints) await this.datapath.deleteLink(ep.hostVeth);
      await this.store.update((s) => {
        s.networks.delete(networkId);
        for (const ep of endpoints) s.endpoints.delete(ep.id);
      });
      await this.isolate();
      this.log.info('network deleted', { networkId, endpoints: endpoints.length });
    });
    return {};
  }

  async createEndpoint(req: CreateEndpointRequest, ctx: RequestContext = NEVER_EXPIRES): Promise<object> {
    const iface = req.Interface ?? {};
    if (iface.AddressIPv6 !== undefined && iface.AddressIPv6 !== '') throw new PluginError('IPv6 addresses are not supported by weave yet');
    if (iface.Address === undefined || iface.Address === '') {
      throw new PluginError('no IPv4 address for the endpoint; weave networks need weave IPAM: docker network create -d weave --ipam-driver weave <name>');
    }
    const address = iface.Address;
    const requestedMac = iface.MacAddress === undefined || iface.MacAddress === '' ? undefined : iface.MacAddress.toLowerCase();
    // Only fields Docker left empty may be returned: it refuses to "modify" a field it set,
    // even with the identical value.
    const reply = (ep: EndpointRecord): object => (requestedMac === undefined ? { Interface: { MacAddress: ep.mac } } : {});

    return this.store.exclusive(async () => {
      if (this.store.getNetwork(req.NetworkID) === undefined) {
        throw new PluginError(`network ${req.NetworkID} is not known to the weave plugin (was it created while weave's state was lost?)`);
      }
      const names = vethNamesFor(req.EndpointID);
      const existing = this.store.getEndpoint(req.EndpointID);
      if (existing !== undefined) {
        if (existing.networkId !== req.NetworkID) {
          throw new PluginError(`endpoint ${req.EndpointID} already exists on network ${existing.networkId}`);
        }
        if ((await this.datapath.getLink(existing.hostVeth)) !== undefined) return reply(existing);
        this.log.warn('endpoint record without its veth; re-creating the veth', { endpointId: req.EndpointID });
      } else {
        const owner = this.store.endpoints().find((e) => e.hostVeth === names.host);
        if (owner !== undefined) throw new PluginError(`veth name ${names.host} is already used by endpoint ${owner.id}`);
      }
      await this.removeLeftover(names.host);
      await this.removeLeftover(names.guest);
      // The port is covered by its network's rules before it exists, so its first frame is
      // already kept inside the network.
      await this.isolate({ networkId: req.NetworkID, hostVeth: names.host });

      // A re-created veth keeps the MAC Docker was already given for this endpoint; a new one
      // gets the MAC of its address, so a restarted container keeps its MAC too.
      const guestMac = requestedMac ?? existing?.mac ?? endpointMacFor(address);
      const veth = await this.datapath.createVeth({
        hostName: names.host,
        guestName: names.guest,
        bridge: this.deps.bridgeName,
        mtu: this.deps.mtu,
        ...(guestMac === undefined ? {} : { guestMac }),
      });
      const record: EndpointRecord = {
        id: req.EndpointID,
        networkId: req.NetworkID,
        hostVeth: names.host,
        guestVeth: names.guest,
        mac: veth.guest.mac.toLowerCase(),
        address,
      };
      try {
        await this.store.update((s) => void s.endpoints.set(record.id, record));
      } catch (err) {
        // Unrecorded, the veth would be a leak nobody deletes; Docker sees the error and rolls back.
        await this.datapath.deleteLink(names.host).catch((cleanupErr: unknown) => this.log.warn('cannot remove veth after failed write', { veth: names.host, error: String(cleanupErr) }));
        await this.isolate().catch((e: unknown) => this.log.warn('cannot update isolation rules', { error: String(e) }));
        throw err;
      }
      if (ctx.expired() && existing === undefined) {
        // Docker was already told this failed and will not delete what it never got.
        await this.datapath.deleteLink(names.host);
        await this.store.update((s) => void s.endpoints.delete(record.id));
        await this.isolate();
        this.log.warn('CreateEndpoint finished after its deadline or its caller hung up; undone', { endpointId: record.id });
        return {};
      }
      this.log.info('endpoint created', { ...record });
      return reply(record);
    });
  }

  endpointOperInfo(endpointId: string): object {
    const ep = this.store.getEndpoint(endpointId);
    if (ep === undefined) return { Value: {} };
    return { Value: { hostVeth: ep.hostVeth, guestVeth: ep.guestVeth, macAddress: ep.mac, address: ep.address } };
  }

  async deleteEndpoint(endpointId: string): Promise<object> {
    await this.store.exclusive(async () => {
      const ep = this.store.getEndpoint(endpointId);
      if (ep === undefined) return;
      await this.datapath.deleteLink(ep.hostVeth);
      await this.store.update((s) => void s.endpoints.delete(endpointId));
      await this.isolate();
      this.log.info('endpoint deleted', { endpointId, veth: ep.hostVeth });
    });
    return {};
  }

  /** No Gateway and DisableGatewayService left false, like Docker's own overlay driver: Docker
   *  then also attaches the container to docker_gwbridge, which gives it a default route, NAT
   *  to the outside and published ports, while container-to-container traffic stays on our L2
   *  overlay (its subnet is on-link via this interface). */
  join(endpointId: string, sandboxKey: string | undefined): Promise<object> {
    return this.store.exclusive(async () => {
      const ep = this.store.getEndpoint(endpointId);
      if (ep === undefined) throw new PluginError(`endpoint ${endpointId} is not known to the weave plugin`);
      const network = this.store.getNetwork(ep.networkId);
      // A container on two multicast weave networks can hold the 224.0.0.0/4 route only once:
      // Docker fails the second join with "file exists" if we hand it out again.
      const routeTaken =
        sandboxKey !== undefined &&
        this.store.endpoints().some((o) => o.id !== ep.id && o.sandboxKey === sandboxKey && o.multicastRoute === true);
      const multicastRoute = network?.multicast === true && !routeTaken;
      await this.store.update((s) => void s.endpoints.set(ep.id, { ...ep, ...(sandboxKey !== undefined ? { sandboxKey } : {}), multicastRoute }));
      return {
        InterfaceName: { SrcName: ep.guestVeth, DstPrefix: CONTAINER_IFNAME_PREFIX },
        ...(multicastRoute ? { StaticRoutes: [MULTICAST_ROUTE] } : {}),
        DisableGatewayService: false,
      };
    });
  }

  /** Docker tears the interface down itself; Leave (also its rollback of a failed Join) only
   *  forgets the sandbox, so the container's next weave interface may carry the multicast route. */
  leave(endpointId: string): Promise<object> {
    return this.store.exclusive(async () => {
      const ep = this.store.getEndpoint(endpointId);
      if (ep === undefined || (ep.sandboxKey === undefined && ep.multicastRoute === undefined)) return {};
      const { sandboxKey: _s, multicastRoute: _m, ...rest } = ep;
      await this.store.update((s) => void s.endpoints.set(ep.id, rest));
      return {};
    });
  }

  /** After a crash: delete `vethwl*` links nobody recorded (their containers never got them, or
   *  the record was rolled back), and report records whose veth vanished. */
  reconcile(): Promise<ReconcileReport> {
    return this.store.exclusive(async () => {
      const links = await this.datapath.listLinks();
      const recorded = new Set(this.store.endpoints().map((e) => e.hostVeth));
      const present = new Set(links.map((l) => l.name));
      const removedLinks: string[] = [];
      for (const link of links) {
        if (!isHostVethName(link.name) || recorded.has(link.name)) continue;
        await this.datapath.deleteLink(link.name);
        removedLinks.push(link.name);
      }
      const endpointsWithoutLink = this.store
        .endpoints()
        .filter((e) => !present.has(e.hostVeth))
        .map((e) => e.id);
      if (removedLinks.length > 0) this.log.info('removed leftover veths', { links: removedLinks });
      if (endpointsWithoutLink.length > 0) {
        // Kept: Docker still owns these endpoints and will send DeleteEndpoint for them.
        this.log.warn('endpoints whose veth is gone', { endpoints: endpointsWithoutLink });
      }
      // The kernel kept the rules while we were down; this brings them in line with the records
      // (and installs them on a host that ran a version without isolation).
      await this.isolate();
      return { removedLinks, endpointsWithoutLink };
    });
  }

  /** Drop networks and endpoints Docker no longer has, among `candidates` (records that existed
   *  when the daemon started: Docker removed them while we were down, and its calls to us
   *  failed). Records made after start are never candidates, so a network Docker is creating
   *  right now cannot be mistaken for a stale one. Returns what was dropped, for IPAM release. */
  forgetGone(present: DockerView, candidates: DockerView): Promise<ForgottenRecords> {
    return this.store.exclusive(async () => {
      const goneNetworks = this.store.networks().filter((n) => candidates.networks.has(n.id) && !present.networks.has(n.id));
      const goneNetworkIds = new Set(goneNetworks.map((n) => n.id));
      const goneEndpoints = this.store
        .endpoints()
        .filter((e) => goneNetworkIds.has(e.networkId) || (candidates.endpoints.has(e.id) && !present.endpoints.has(e.id)));
      if (goneNetworks.length === 0 && goneEndpoints.length === 0) return { networks: [], endpoints: [] };
      for (const ep of goneEndpoints) await this.datapath.deleteLink(ep.hostVeth);
      await this.store.update((s) => {
        for (const n of goneNetworks) s.networks.delete(n.id);
        for (const e of goneEndpoints) s.endpoints.delete(e.id);
      });
      await this.isolate();
      this.log.info('dropped networks and endpoints Docker removed while we were down', {
        networks: goneNetworks.map((n) => n.id),
        endpoints: goneEndpoints.map((e) => e.id),
      });
      return { networks: goneNetworks, endpoints: goneEndpoints };
    });
  }

  /** Networks and the ports of their containers, as recorded (plus one port about to be made),
   *  and the host's ports on them. */
  isolationPolicy(pending?: { networkId: string; hostVeth: string }): IsolatedNetwork[] {
    const ports = this.store.endpoints().map((e) => ({ networkId: e.networkId, hostVeth: e.hostVeth }));
    if (pending !== undefined && !ports.some((p) => p.hostVeth === pending.hostVeth)) ports.push(pending);
    const hostPorts = this.deps.hostPorts?.() ?? [];
    const networks = this.store.networks();
    const policy = networks.map((n) => ({
      subnets: n.subnets,
      multicast: n.multicast,
      ports: [...ports.filter((p) => p.networkId === n.id).map((p) => p.hostVeth), ...hostPorts.filter((h) => n.subnets.includes(h.subnet)).map((h) => h.port)],
    }));
    // a port left out would not be filtered at all: one whose network was deleted under it stays
    // confined to that subnet until it is hidden
    const stranded = hostPorts.filter((h) => !networks.some((n) => n.subnets.includes(h.subnet)));
    return [...policy, ...stranded.map((h) => ({ subnets: [h.subnet], multicast: true, ports: [h.port] }))];
  }

  /** Re-applies the policy after something outside the records changed (a host port came or
   *  went), in turn with Docker's requests so neither applies a stale policy over the other. */
  refreshIsolation(): Promise<void> {
    return this.store.exclusive(() => this.isolate());
  }

  private async isolate(pending?: { networkId: string; hostVeth: string }): Promise<void> {
    try {
      await this.datapath.applyIsolation(this.isolationPolicy(pending));
    } catch (err) {
      throw new PluginError(`cannot install the rules that keep weave networks apart: ${(err as Error).message}`);
    }
  }

  private async removeLeftover(name: string): Promise<void> {
    if ((await this.datapath.getLink(name)) === undefined) return;
    this.log.warn('removing leftover link before creating the endpoint', { link: name });
    await this.datapath.deleteLink(name);
  }
}
