// Weave's bridged_fastdp layout on the Open vSwitch kernel datapath: Linux bridge `weave`, ODP
// datapath `datapath`, veth `vethwe-bridge` (on the bridge) / `vethwe-datapath` (a netdev vport),
// and a VXLAN vport `vxlan-<port>`. Every vport sends its misses to our own netlink socket; the
// caller decides what to do with them (install flows, execute packets).
import type { Logger } from '../../common/logger.ts';
import { NETLINK_GENERIC } from '../netlink/constants.ts';
import { decodeGenlHeader, GENL_HDRLEN } from '../netlink/genetlink.ts';
import { AttrSet } from '../netlink/attributes.ts';
import { NetlinkError } from '../netlink/netlink-error.ts';
import type { NetlinkMessage } from '../netlink/message.ts';
import { RtnetlinkClient } from '../netlink/rtnetlink/client.ts';
import { NetlinkSocket } from '../netlink/socket.ts';
import type { OdpAction } from '../netlink/ovs/actions.ts';
import {
  OVS_DP_F_UNALIGNED,
  OVS_DP_F_VPORT_PIDS,
  OVS_HEADER_LEN,
  OVS_PACKET_CMD_MISS,
  OVS_VPORT_CMD_NEW,
  OVS_VPORT_CMD_SET,
  OVS_VPORT_MCGROUP,
} from '../netlink/ovs/constants.ts';
import type { FlowInfo, FlowSpec } from '../netlink/ovs/flow-codec.ts';
import { OvsClient } from '../netlink/ovs/ovs-client.ts';
import { decodeOvsHeader } from '../netlink/ovs/ovs-header.ts';
import { decodeUpcall } from '../netlink/ovs/packet-codec.ts';
import type { Upcall } from '../netlink/ovs/packet-codec.ts';
import { decodeVport } from '../netlink/ovs/vport-codec.ts';
import type { VportInfo } from '../netlink/ovs/vport-codec.ts';

export class OdpUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OdpUnavailableError';
  }
}

export interface OdpDatapathOptions {
  logger: Logger;
  /** Network namespace to work in (path); default our own. */
  netns?: string;
  bridge?: string;
  datapath?: string;
  /** VXLAN UDP port (Weave: 6784); the vport is named `vxlan-<port>`. */
  vxlanPort?: number;
  mtu?: number;
  /** Misses of every vport; one listener. */
  onMiss?: (upcall: Upcall) => void;
}

/** How many times to retry the VXLAN vport when its UDP port is still held (a socket of a
 *  vport just deleted is released asynchronously). */
const VXLAN_RETRIES = 5;

export class OdpDatapath {
  readonly bridgeName: string;
  readonly datapathName: string;
  readonly vxlanPort: number;
  readonly mtu: number;
  private readonly logger: Logger;
  private ovs: OvsClient | undefined;
  private rtnl: RtnetlinkClient | undefined;
  private missSocket: NetlinkSocket | undefined;
  private vportEvents: NetlinkSocket | undefined;
  private dp = 0;
  private ports = { datapathVeth: -1, vxlan: -1 };
  private missListener: ((u: Upcall) => void) | undefined;

  constructor(private readonly opts: OdpDatapathOptions) {
    this.logger = opts.logger;
    this.bridgeName = opts.bridge ?? 'weave';
    this.datapathName = opts.datapath ?? 'datapath';
    this.vxlanPort = opts.vxlanPort ?? 6784;
    this.mtu = opts.mtu ?? 1376;
    this.missListener = opts.onMiss;
  }

  get dpIfindex(): number {
    return this.dp;
  }
  /** Port number of `vethwe-datapath` (the bridge side) in the datapath. */
  get bridgePort(): number {
    return this.ports.datapathVeth;
  }
  get vxlanVport(): number {
    return this.ports.vxlan;
  }
  get client(): OvsClient {
    if (this.ovs === undefined) throw new Error('OdpDatapath not started');
    return this.ovs;
  }

  onMiss(listener: ((u: Upcall) => void) | undefined): void {
    this.missListener = listener;
  }

  async start(): Promise<void> {
    try {
      await this.setUp();
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  private async setUp(): Promise<void> {
    const netns = this.opts.netns;
    const ovs = await OvsClient.open(netns === undefined ? {} : { netns });
    if (ovs === undefined) throw new OdpUnavailableError('the kernel has no Open vSwitch datapath (no ovs_datapath genetlink family)');
    this.ovs = ovs;
    this.rtnl = RtnetlinkClient.open(netns === undefined ? {} : { netns });
    this.missSocket = NetlinkSocket.open(NETLINK_GENERIC, { ...(netns === undefined ? {} : { netns }), receiveBufferBytes: 4 << 20 });
    this.missSocket.onNotification((m) => this.onUpcallMessage(m));
    this.missSocket.onError((err) => this.logger.warn('upcalls lost', { error: err.message }));
    const pid = this.missSocket.portId;

    let dp = await ovs.getDatapath(this.datapathName);
    if (dp === undefined) {
      try {
        dp = await ovs.createDatapath(this.datapathName, pid, OVS_DP_F_UNALIGNED | OVS_DP_F_VPORT_PIDS);
        this.logger.info('created datapath', { datapath: this.datapathName, ifindex: dp.ifindex });
      } catch (err) {
        if (!NetlinkError.is(err, 'EEXIST')) throw err;
        dp = await ovs.getDatapath(this.datapathName);
        if (dp === undefined) throw err;
      }
    }
    this.dp = dp.ifindex;
    // The internal port stays down: in the bridged layout the host's address lives on the
    // bridge, and an up port would only feed IPv6 chatter into the datapath.
    await this.rtnl.setLink(this.datapathName, { mtu: this.mtu });

    await this.ensureBridgeAndVeth();
    const veth = (await ovs.getVport('vethwe-datapath')) ?? (await ovs.createVport(this.dp, { name: 'vethwe-datapath', type: 'netdev', upcallPids: [pid] }));
    this.ports.datapathVeth = veth.portNo;
    // Weave starts from a clean slate: stale VXLAN vports and flows of a previous run go.
    for (const v of await ovs.listVports(this.dp)) if (v.type === 'vxlan') await ovs.deleteVport(this.dp, v.portNo);
    await ovs.deleteFlow(this.dp);
    this.ports.vxlan = (await this.createVxlanVport(pid)).portNo;
    // Vports added later (by anyone) must send their misses to us too, or the kernel drops them.
    const group = ovs.families.vport.mcastGroups.get(OVS_VPORT_MCGROUP);
    if (group !== undefined) {
      this.vportEvents = NetlinkSocket.open(NETLINK_GENERIC, netns === undefined ? {} : { netns });
      this.vportEvents.addMembership(group);
      this.vportEvents.onNotification((m) => void this.onVportEvent(m));
      this.vportEvents.onError(() => void this.claimAllVports().catch((err: unknown) => this.logger.warn('vport resync failed', { error: (err as Error).message })));
    }
    await this.claimAllVports();
    this.logger.info('ODP datapath ready', { datapath: this.datapathName, bridgePort: this.ports.datapathVeth, vxlanPort: this.ports.vxlan });
  }

  private async ensureBridgeAndVeth(): Promise<void> {
    const rtnl = this.rtnl!;
    if ((await rtnl.getLink(this.bridgeName)) === undefined) await rtnl.createBridge(this.bridgeName, { mtu: this.mtu });
    // Multicast must flood to vethwe-bridge too, whatever groups local containers joined.
    await rtnl.setBridge(this.bridgeName, { multicastSnooping: false });
    const bridge = await rtnl.getLink(this.bridgeName);
    if (bridge === undefined) throw new Error(`bridge ${this.bridgeName} vanished`);
    if ((await rtnl.getLink('vethwe-bridge')) === undefined) {
      await rtnl.createVeth('vethwe-bridge', { mtu: this.mtu, master: bridge.index }, { name: 'vethwe-datapath', mtu: this.mtu });
    }
    for (const l of [this.bridgeName, 'vethwe-bridge', 'vethwe-datapath']) await rtnl.setUp(l);
  }

  private async createVxlanVport(pid: number): Promise<VportInfo> {
    const name = `vxlan-${this.vxlanPort}`;
    for (let attempt = 1; ; attempt++) {
      try {
        const v = await this.client.createVport(this.dp, { name, type: 'vxlan', upcallPids: [pid], dstPort: this.vxlanPort });
        // A down netdev means the kernel could not bind the UDP port after all.
        const link = await this.rtnl!.getLink(name);
        if (link !== undefined && !link.up) {
          await this.client.deleteVport(this.dp, v.portNo);
          throw new NetlinkError(98, `UDP port ${this.vxlanPort} is in use`);
        }
        return v;
      } catch (err) {
        if (NetlinkError.is(err, 'EAFNOSUPPORT')) throw new OdpUnavailableError('the kernel has no Open vSwitch VXLAN support', { cause: err });
        if (!NetlinkError.is(err, 'EADDRINUSE') || attempt >= VXLAN_RETRIES) throw err;
        this.logger.debug('VXLAN port busy, retrying', { port: this.vxlanPort, attempt });
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }

  private async claimAllVports(): Promise<void> {
    for (const v of await this.client.listVports(this.dp)) await this.claimVport(v);
  }

  private async claimVport(v: VportInfo): Promise<void> {
    const pid = this.missSocket?.portId;
    if (pid === undefined || v.dpIfindex !== this.dp) return;
    // Our own SET comes back as an event too; the check ends that loop.
    if (v.upcallPids.length === 1 && v.upcallPids[0] === pid) return;
    await this.client.setVportUpcallPids(this.dp, v.portNo, [pid]);
    this.logger.debug('vport sends misses to us', { vport: v.name, port: v.portNo });
  }

  private async onVportEvent(m: NetlinkMessage): Promise<void> {
    if (this.ovs === undefined || m.type !== this.ovs.families.vport.id) return;
    try {
      const h = decodeGenlHeader(m.payload);
      if (h.cmd !== OVS_VPORT_CMD_NEW && h.cmd !== OVS_VPORT_CMD_SET) return;
      const dp = decodeOvsHeader(m.payload.subarray(GENL_HDRLEN, GENL_HDRLEN + OVS_HEADER_LEN));
      await this.claimVport(decodeVport(dp, new AttrSet(m.payload.subarray(GENL_HDRLEN + OVS_HEADER_LEN))));
    } catch (err) {
      // ENODEV: the vport went again before we got to it.
      if (!NetlinkError.is(err, 'ENODEV')) this.logger.warn('vport event handling failed', { error: (err as Error).message });
    }
  }

  private onUpcallMessage(m: NetlinkMessage): void {
    if (this.ovs === undefined || m.type !== this.ovs.families.packet.id) return;
    try {
      const h = decodeGenlHeader(m.payload);
      if (h.cmd !== OVS_PACKET_CMD_MISS) return;
      const dp = decodeOvsHeader(m.payload.subarray(GENL_HDRLEN, GENL_HDRLEN + OVS_HEADER_LEN));
      const up = decodeUpcall(h.cmd, dp, new AttrSet(m.payload.subarray(GENL_HDRLEN + OVS_HEADER_LEN)));
      this.missListener?.(up);
    } catch (err) {
      this.logger.warn('bad upcall', { error: (err as Error).message });
    }
  }

  installFlow(flow: FlowSpec): Promise<void> {
    return this.client.createFlow(this.dp, flow);
  }
  execute(packet: Buffer, keyAttrs: Buffer, actions: readonly OdpAction[]): Promise<void> {
    return this.client.execute(this.dp, packet, keyAttrs, actions);
  }
  dumpFlows(): Promise<FlowInfo[]> {
    return this.client.dumpFlows(this.dp);
  }
  deleteFlows(): Promise<void> {
    return this.client.deleteFlow(this.dp);
  }

  /** One expiry round as Weave does it: flows without a packet since the previous round are
   *  deleted, the others get their statistics cleared so the next round can tell. */
  async expireFlows(): Promise<{ deleted: FlowInfo[]; kept: FlowInfo[] }> {
    const deleted: FlowInfo[] = [];
    const kept: FlowInfo[] = [];
    for (const f of await this.dumpFlows()) {
      try {
        if (f.usedMs === undefined || f.packets === 0n) {
          await this.client.deleteFlow(this.dp, f.rawKey);
          deleted.push(f);
        } else {
          await this.client.clearFlowStats(this.dp, f.rawKey);
          kept.push(f);
        }
      } catch (err) {
        // The flow may have gone meanwhile (another expiry, a flush).
        if (!NetlinkError.is(err, 'ENOENT')) throw err;
      }
    }
    return { deleted, kept };
  }

  /** Deletes the datapath (its vports go with it) and the veth pair; the bridge stays for the
   *  containers on it. */
  async stop(): Promise<void> {
    try {
      if (this.ovs !== undefined && this.dp !== 0) await this.ovs.deleteDatapath(this.datapathName);
      if (this.rtnl !== undefined && (await this.rtnl.getLink('vethwe-bridge')) !== undefined) await this.rtnl.deleteLink('vethwe-bridge');
    } finally {
      this.missSocket?.close();
      this.vportEvents?.close();
      this.vportEvents = undefined;
      this.ovs?.close();
      this.rtnl?.close();
      this.missSocket = undefined;
      this.ovs = undefined;
      this.rtnl = undefined;
      this.dp = 0;
    }
  }
}
