// The Datapath on a Linux host: a bridge plus veth pairs, programmed over rtnetlink.
import type { Logger } from '../common/logger.ts';
import type { BridgeSpec, Datapath, HostPortSpec, IsolatedNetwork, LinkInfo, VethInfo, VethSpec } from './contract.ts';
import { isolationRuleset } from './isolation/isolation-ruleset.ts';
import { NftablesClient } from './netlink/nftables/client.ts';
import type { WeaveNative } from './native/index.ts';
import { NetlinkError } from './netlink/netlink-error.ts';
import { RtnetlinkClient } from './netlink/rtnetlink/client.ts';
import { AF_INET } from './netlink/rtnetlink/constants.ts';
import type { Link } from './netlink/rtnetlink/link.ts';

export interface LinuxDatapathOptions {
  logger: Logger;
  /** Path of the network namespace to operate in (tests); default: the process's own. */
  netns?: string;
  /** Per-request netlink timeout. */
  timeoutMs?: number;
  /** The addon; loaded from the build directory when absent. */
  native?: WeaveNative;
}

export function toLinkInfo(link: Link): LinkInfo {
  const info: LinkInfo = { index: link.index, name: link.name, mtu: link.mtu, mac: link.mac, up: link.up };
  if (link.kind !== undefined) info.kind = link.kind;
  if (link.masterIndex !== undefined) info.masterIndex = link.masterIndex;
  return info;
}

export class LinuxDatapath implements Datapath {
  private readonly logger: Logger;
  private readonly opts: LinuxDatapathOptions;
  private client: RtnetlinkClient | undefined;
  private nft: NftablesClient | undefined;

  constructor(opts: LinuxDatapathOptions) {
    this.opts = opts;
    this.logger = opts.logger;
  }

  async start(): Promise<void> {
    if (this.client !== undefined) return;
    const socketOpts: { netns?: string; timeoutMs?: number; native?: WeaveNative } = {};
    if (this.opts.netns !== undefined) socketOpts.netns = this.opts.netns;
    if (this.opts.timeoutMs !== undefined) socketOpts.timeoutMs = this.opts.timeoutMs;
    if (this.opts.native !== undefined) socketOpts.native = this.opts.native;
    this.client = RtnetlinkClient.open(socketOpts);
    this.nft = NftablesClient.open(socketOpts);
    this.logger.debug('datapath started', { netns: this.opts.netns ?? 'self' });
  }

  async stop(): Promise<void> {
    this.client?.close();
    this.client = undefined;
    this.nft?.close();
    this.nft = undefined;
  }

  /** The rtnetlink client, for datapath-internal users (vxlan/FDB programming). */
  get rtnl(): RtnetlinkClient {
    if (this.client === undefined) throw new Error('LinuxDatapath is not started');
    return this.client;
  }

  async ensureBridge(spec: BridgeSpec): Promise<LinkInfo> {
    const rtnl = this.rtnl;
    let link = await rtnl.getLink(spec.name);
    if (link === undefined) {
      try {
        const o: { mtu: number; mac?: string } = { mtu: spec.mtu };
        if (spec.mac !== undefined) o.mac = spec.mac;
        await rtnl.createBridge(spec.name, o);
        this.logger.info('created bridge', { bridge: spec.name, mtu: spec.mtu, mac: spec.mac });
      } catch (err) {
        // Someone else (a concurrent call, a previous run) created it in between: reuse it.
        if (!NetlinkError.is(err, 'EEXIST')) throw err;
      }
      link = await rtnl.getLink(spec.name);
      if (link === undefined) throw new NetlinkError(19, `bridge ${spec.name}`, 'vanished after creation');
    }
    if (link.kind !== 'bridge') {
      throw new Error(`link ${spec.name} exists but is a ${link.kind ?? 'plain device'}, not a bridge`);
    }
    // Every call, so a bridge made by an older version or by hand gets it too; cheap and idempotent.
    await rtnl.setBridge(link.index, { multicastSnooping: false });
    // The bridge device sees every network's broadcasts outside the isolation rules: it must not
    // answer ARP for the host's other addresses (an exposed network's, the underlay's) to all of them.
    await rtnl.setLink(link.index, { arpIgnore: 1 });
    if (link.mtu !== spec.mtu || !link.up) {
      await rtnl.setLink(link.index, { mtu: spec.mtu, up: true });
      link = (await rtnl.getLink(link.index)) ?? link;
    }
    return toLinkInfo(link);
  }

  async createVeth(spec: VethSpec): Promise<VethInfo> {
    const rtnl = this.rtnl;
    const bridge = await rtnl.getLink(spec.bridge);
    if (bridge === undefined) throw new NetlinkError(19, `create veth ${spec.hostName}`, `bridge ${spec.bridge} does not exist`);
    const peer: { name: string; mtu: number; mac?: string } = { name: spec.guestName, mtu: spec.mtu };
    if (spec.guestMac !== undefined) peer.mac = spec.guestMac;
    // Host end: enslaved at creation; MTU equal to the bridge's so the bridge keeps its MTU.
    await rtnl.createVeth(spec.hostName, { mtu: spec.mtu, master: bridge.index }, peer);
    try {
      await rtnl.setLink(spec.hostName, { up: true });
      const host = await rtnl.getLink(spec.hostName);
      const guest = await rtnl.getLink(spec.guestName);
      if (host === undefined || guest === undefined) {
        throw new NetlinkError(19, `create veth ${spec.hostName}`, 'veth pair vanished after creation');
      }
      this.logger.debug('created veth', { host: spec.hostName, guest: spec.guestName, bridge: spec.bridge });
      return { host: toLinkInfo(host), guest: toLinkInfo(guest) };
    } catch (err) {
      // Do not leave a half-configured pair behind: Docker will retry from scratch.
      await rtnl.deleteLink(spec.hostName).catch(() => undefined);
      throw err;
    }
  }

  async deleteLink(name: string): Promise<boolean> {
    try {
      await this.rtnl.deleteLink(name);
      this.logger.debug('deleted link', { link: name });
      return true;
    } catch (err) {
      if (NetlinkError.is(err, 'ENODEV')) return false;
      throw err;
    }
  }

  async getLink(name: string): Promise<LinkInfo | undefined> {
    const link = await this.rtnl.getLink(name);
    return link === undefined ? undefined : toLinkInfo(link);
  }

  async listLinks(): Promise<LinkInfo[]> {
    return (await this.rtnl.listLinks()).map(toLinkInfo);
  }

  async ensureAddress(link: string, cidr: string): Promise<void> {
    const present = await this.rtnl.listAddresses(link);
    if (present.some((a) => a.cidr === cidr)) return;
    await this.rtnl.addAddress(link, cidr, { replace: true });
    this.logger.info('address added', { link, cidr });
  }

  async removeAddress(link: string, cidr: string): Promise<boolean> {
    const present = await this.rtnl.listAddresses(link).catch((err: unknown) => {
      if (err instanceof NetlinkError && err.code === 'ENODEV') return [];
      throw err;
    });
    if (!present.some((a) => a.cidr === cidr)) return false;
    await this.rtnl.deleteAddress(link, cidr);
    return true;
  }

  async ensureHostPort(spec: HostPortSpec): Promise<void> {
    const rtnl = this.rtnl;
    const bridge = await rtnl.getLink(spec.bridge);
    if (bridge === undefined) throw new NetlinkError(19, `host port ${spec.port}`, `bridge ${spec.bridge} does not exist`);
    const port = await rtnl.getLink(spec.port);
    const host = await rtnl.getLink(spec.hostName);
    for (const link of [port, host]) {
      if (link !== undefined && link.kind !== 'veth') throw new Error(`link ${link.name} exists but is a ${link.kind ?? 'plain device'}, not a veth`);
    }
    const pair = port !== undefined && host !== undefined && port.linkIndex === host.index ? { port, host } : await this.freshHostPort(spec, bridge.index, [port, host]);
    if (pair.port.masterIndex !== bridge.index) await rtnl.setMaster(pair.port.index, bridge.index);
    const present = await rtnl.listAddresses(pair.host.index);
    for (const a of present) {
      // the host end is ours alone: an address left from an earlier expose would be a second route
      if (a.family === AF_INET && a.cidr !== spec.cidr) await rtnl.deleteAddress(pair.host.index, a.cidr);
    }
    if (!present.some((a) => a.cidr === spec.cidr)) {
      await rtnl.addAddress(pair.host.index, spec.cidr, { replace: true });
      this.logger.info('address added', { link: spec.hostName, cidr: spec.cidr });
    }
    for (const link of [pair.port, pair.host]) {
      if (!link.up || link.mtu !== spec.mtu) await rtnl.setLink(link.index, { up: true, mtu: spec.mtu });
    }
    // Linux answers ARP for any of the host's addresses on any interface: the bridge device, which
    // gets every network's broadcasts outside the isolation rules, would answer for this address to
    // all of them. Only for its own addresses (weaveDNS's) then.
    await rtnl.setLink(bridge.index, { arpIgnore: 1 });
  }

  /** One end deleted by hand, or two unrelated veths under our names: neither can carry the
   *  network's address, so start from a new pair. */
  private async freshHostPort(spec: HostPortSpec, bridgeIndex: number, leftovers: (Link | undefined)[]): Promise<{ port: Link; host: Link }> {
    const rtnl = this.rtnl;
    for (const link of leftovers) if (link !== undefined) await this.deleteLink(link.name);
    await rtnl.createVeth(spec.port, { mtu: spec.mtu, master: bridgeIndex }, { name: spec.hostName, mtu: spec.mtu });
    this.logger.info('created host port', { port: spec.port, host: spec.hostName, bridge: spec.bridge });
    const port = await rtnl.getLink(spec.port);
    const host = await rtnl.getLink(spec.hostName);
    if (port === undefined || host === undefined) throw new NetlinkError(19, `host port ${spec.port}`, 'veth pair vanished after creation');
    return { port, host };
  }

  async removeHostPort(port: string): Promise<boolean> {
    const link = await this.rtnl.getLink(port);
    if (link === undefined) return false;
    if (link.kind !== 'veth') throw new Error(`link ${port} is a ${link.kind ?? 'plain device'}, not a host port`);
    // the kernel deletes the other end with it
    return this.deleteLink(port);
  }

  async applyIsolation(networks: IsolatedNetwork[]): Promise<void> {
    if (this.nft === undefined) throw new Error('LinuxDatapath is not started');
    await this.nft.commit(isolationRuleset(networks), 'bridge isolation rules');
    this.logger.debug('isolation applied', { networks: networks.length, ports: networks.reduce((n, x) => n + x.ports.length, 0) });
  }
}
