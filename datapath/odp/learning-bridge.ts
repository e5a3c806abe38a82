// A learning switch over the ODP datapath's vports, as Weave's fastdp runs one: each miss
// teaches where its source MAC lives; known destinations get a flow, broadcasts get a flow to
// every other port, unknown unicast is flooded without a flow (so nothing needs invalidating
// when the MAC is learned later). Remote peers sit behind the VXLAN vport, one tunnel id per
// (source, destination) pair: VNI = (dst << 12) | src.
import type { Logger } from '../../common/logger.ts';
import type { OdpAction } from '../netlink/ovs/actions.ts';
import type { FlowSpec } from '../netlink/ovs/flow-codec.ts';
import { exactMaskFor } from '../netlink/ovs/flow-key.ts';
import type { FlowKey, TunnelKey } from '../netlink/ovs/flow-key.ts';
import type { Upcall } from '../netlink/ovs/packet-codec.ts';
import { peersFromVni, weaveVni } from '../netlink/ovs/vni.ts';

export interface TunnelPeer {
  shortId: number;
  /** The peer's underlay address: outer destination of the tunnel. */
  ip: string;
}

export type MacLocation = { port: number } | { peer: number };

export interface BridgeTopology {
  localShortId: number;
  /** Our underlay address: outer source of the tunnel (Weave: the local end of the peer's TCP
   *  connection). Undefined: the kernel picks the route's source address. */
  localIp?: string;
  /** Local vports frames may be delivered to (netdev/internal). */
  localPorts: readonly number[];
  vxlanPort: number;
  peers: ReadonlyMap<number, TunnelPeer>;
}

export interface MissDecision {
  /** Executed for the packet that missed; empty = drop. */
  actions: OdpAction[];
  /** Flow to install so later packets stay in the kernel; undefined = none. */
  flow?: FlowSpec;
  /** Source MAC learned from this miss. */
  learned?: { mac: string; at: MacLocation };
}

const TUNNEL_TTL = 64;

function isGroupMac(mac: string): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 1) === 1;
}

/** set-tunnel + output as Weave sends to a peer: its VNI, TOS 0, TTL 64, DF, no checksum. */
export function tunnelActions(topo: Pick<BridgeTopology, 'localShortId' | 'localIp' | 'vxlanPort'>, peer: TunnelPeer): OdpAction[] {
  const tunnel: TunnelKey = { id: BigInt(weaveVni(topo.localShortId, peer.shortId)), ipv4Dst: peer.ip, tos: 0, ttl: TUNNEL_TTL, dontFragment: true };
  if (topo.localIp !== undefined) tunnel.ipv4Src = topo.localIp;
  return [
    { kind: 'set-tunnel', tunnel },
    { kind: 'output', port: topo.vxlanPort },
  ];
}

/** Pure decision for one miss, given the MAC table (not modified). */
export function decideMiss(topo: BridgeTopology, macs: ReadonlyMap<string, MacLocation>, key: FlowKey): MissDecision {
  const inPort = key.inPort;
  const eth = key.ethernet;
  if (inPort === undefined || eth === undefined) return { actions: [] };
  const fromTunnel = inPort === topo.vxlanPort;
  let learned: MissDecision['learned'];
  if (fromTunnel) {
    const t = key.tunnel;
    if (t?.id === undefined) return { actions: [] };
    const ids = peersFromVni(t.id);
    // Not addressed to us, or from a peer we do not know: nothing to do with it.
    if (ids.dst !== topo.localShortId || !topo.peers.has(ids.src)) return { actions: [] };
    learned = { mac: eth.src, at: { peer: ids.src } };
  } else {
    // Frames from ports we do not switch for (the datapath's own internal port) go nowhere.
    if (!topo.localPorts.includes(inPort)) return { actions: [] };
    learned = { mac: eth.src, at: { port: inPort } };
  }
  const localOut = (except: number): OdpAction[] => topo.localPorts.filter((p) => p !== except).map((port) => ({ kind: 'output', port }));

  let actions: OdpAction[];
  let install = true;
  const dst = isGroupMac(eth.dst) ? undefined : macs.get(eth.dst);
  if (dst !== undefined && 'port' in dst) {
    // Never hairpin a frame back out of the local port it came in on.
    actions = dst.port === inPort ? [] : [{ kind: 'output', port: dst.port }];
  } else if (dst !== undefined && 'peer' in dst) {
    const peer = topo.peers.get(dst.peer);
    // Frames from the tunnel never go back into it: peers forward only their own traffic.
    actions = fromTunnel || peer === undefined ? [] : tunnelActions(topo, peer);
  } else {
    actions = localOut(inPort);
    if (!fromTunnel) for (const peer of topo.peers.values()) actions.push(...tunnelActions(topo, peer));
    install = isGroupMac(eth.dst);
  }
  const flowKey: FlowKey = { inPort, ethernet: { src: eth.src, dst: eth.dst } };
  if (fromTunnel && key.tunnel !== undefined) {
    flowKey.tunnel = { id: key.tunnel.id, ipv4Src: key.tunnel.ipv4Src, ipv4Dst: key.tunnel.ipv4Dst, ttl: key.tunnel.ttl ?? TUNNEL_TTL };
  }
  const decision: MissDecision = { actions, learned };
  if (install) decision.flow = { key: flowKey, mask: exactMaskFor(flowKey), actions };
  return decision;
}

export interface OdpPort {
  execute(packet: Buffer, keyAttrs: Buffer, actions: readonly OdpAction[]): Promise<void>;
  installFlow(flow: FlowSpec): Promise<void>;
}

/** Runs decideMiss for each upcall: learns, executes the packet, installs the flow. */
export class LearningBridge {
  readonly macs = new Map<string, MacLocation>();
  /** MACs learned since the last sweep. */
  private fresh = new Set<string>();

  constructor(
    private readonly dp: OdpPort,
    private readonly topo: BridgeTopology,
    private readonly logger: Logger,
  ) {}

  async handleMiss(up: Upcall): Promise<void> {
    const d = decideMiss(this.topo, this.macs, up.key);
    if (d.learned !== undefined && !this.macs.has(d.learned.mac)) {
      this.macs.set(d.learned.mac, d.learned.at);
      this.fresh.add(d.learned.mac);
    }
    try {
      if (d.actions.length > 0) await this.dp.execute(up.packet, up.rawKey, d.actions);
      if (d.flow !== undefined) await this.dp.installFlow(d.flow);
    } catch (err) {
      // EEXIST: a burst of misses for one flow; the first one installed it.
      if ((err as { code?: string }).code !== 'EEXIST') this.logger.warn('miss handling failed', { error: (err as Error).message });
    }
  }

  /** Forgets MACs neither learned since the previous sweep nor still the source of a live
   *  flow (`inUse`), so a MAC that moved is relearned where it is now. Returns how many went. */
  sweep(inUse: ReadonlySet<string>): number {
    let dropped = 0;
    for (const mac of [...this.macs.keys()]) {
      if (this.fresh.has(mac) || inUse.has(mac)) continue;
      this.macs.delete(mac);
      dropped++;
    }
    this.fresh = new Set();
    return dropped;
  }
}
