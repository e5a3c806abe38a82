// Typed requests to the four OVS genetlink families over one generic netlink socket.
import { NLM_F_DUMP, NLM_F_ECHO } from '../constants.ts';
import { GenetlinkClient } from '../genetlink.ts';
import type { GenlFamily, GenlReply } from '../genetlink.ts';
import type { NetlinkSocketOptions } from '../socket.ts';
import type { OdpAction } from './actions.ts';
import {
  OVS_DATAPATH_FAMILY,
  OVS_DP_CMD_DEL,
  OVS_DP_CMD_GET,
  OVS_DP_CMD_NEW,
  OVS_FLOW_CMD_DEL,
  OVS_FLOW_CMD_GET,
  OVS_FLOW_CMD_NEW,
  OVS_FLOW_CMD_SET,
  OVS_FLOW_FAMILY,
  OVS_PACKET_CMD_EXECUTE,
  OVS_PACKET_FAMILY,
  OVS_VPORT_CMD_DEL,
  OVS_VPORT_CMD_GET,
  OVS_VPORT_CMD_NEW,
  OVS_VPORT_CMD_SET,
  OVS_VPORT_FAMILY,
} from './constants.ts';
import { decodeDatapath, encodeDatapathByName, encodeDatapathNew } from './datapath-codec.ts';
import type { DatapathInfo } from './datapath-codec.ts';
import { decodeFlow, encodeFlowClearStats, encodeFlowDel, encodeFlowDump, encodeFlowNew } from './flow-codec.ts';
import type { FlowInfo, FlowSpec } from './flow-codec.ts';
import { decodeOvsHeader } from './ovs-header.ts';
import { encodeExecute } from './packet-codec.ts';
import { decodeVport, encodeVportByName, encodeVportByNumber, encodeVportDump, encodeVportNew, encodeVportSetUpcall } from './vport-codec.ts';
import type { VportInfo, VportSpec } from './vport-codec.ts';
import { NetlinkError } from '../netlink-error.ts';

export interface OvsFamilies {
  datapath: GenlFamily;
  vport: GenlFamily;
  flow: GenlFamily;
  packet: GenlFamily;
}

export class OvsClient {
  private constructor(
    private readonly genl: GenetlinkClient,
    readonly families: OvsFamilies,
  ) {}

  /** Resolves the OVS families (asking for ovs_datapath makes the kernel autoload openvswitch
   *  where it can). Undefined when this kernel has no OVS datapath. */
  static async open(opts: NetlinkSocketOptions = {}): Promise<OvsClient | undefined> {
    const genl = GenetlinkClient.open(opts);
    try {
      const [datapath, vport, flow, packet] = await Promise.all(
        [OVS_DATAPATH_FAMILY, OVS_VPORT_FAMILY, OVS_FLOW_FAMILY, OVS_PACKET_FAMILY].map((n) => genl.family(n)),
      );
      if (datapath === undefined || vport === undefined || flow === undefined || packet === undefined) {
        genl.close();
        return undefined;
      }
      return new OvsClient(genl, { datapath, vport, flow, packet });
    } catch (err) {
      genl.close();
      throw err;
    }
  }

  close(): void {
    this.genl.close();
  }

  private async call(family: GenlFamily, cmd: number, flags: number, body: Buffer, what: string): Promise<GenlReply[]> {
    return this.genl.request(family, cmd, flags, body, { describe: () => what });
  }

  async createDatapath(name: string, upcallPid: number, userFeatures: number): Promise<DatapathInfo> {
    const r = await this.call(this.families.datapath, OVS_DP_CMD_NEW, NLM_F_ECHO, encodeDatapathNew(name, upcallPid, userFeatures), `create datapath ${name}`);
    return this.oneDatapath(r, name);
  }

  /** Undefined when no datapath has that name. */
  async getDatapath(name: string): Promise<DatapathInfo | undefined> {
    try {
      const r = await this.call(this.families.datapath, OVS_DP_CMD_GET, 0, encodeDatapathByName(name), `get datapath ${name}`);
      return this.oneDatapath(r, name);
    } catch (err) {
      if (NetlinkError.is(err, 'ENODEV')) return undefined;
      throw err;
    }
  }

  async deleteDatapath(name: string): Promise<void> {
    await this.call(this.families.datapath, OVS_DP_CMD_DEL, 0, encodeDatapathByName(name), `delete datapath ${name}`);
  }

  private oneDatapath(replies: GenlReply[], name: string): DatapathInfo {
    const m = replies[0];
    if (m === undefined) throw new Error(`no reply describing datapath ${name}`);
    return decodeDatapath(decodeOvsHeader(m.familyHeader), m.attrs);
  }

  async createVport(dpIfindex: number, spec: VportSpec): Promise<VportInfo> {
    const r = await this.call(this.families.vport, OVS_VPORT_CMD_NEW, NLM_F_ECHO, encodeVportNew(dpIfindex, spec), `create vport ${spec.name}`);
    return this.oneVport(r, spec.name);
  }

  /** Undefined when no vport has that name in this namespace. */
  async getVport(name: string): Promise<VportInfo | undefined> {
    try {
      const r = await this.call(this.families.vport, OVS_VPORT_CMD_GET, 0, encodeVportByName(name), `get vport ${name}`);
      return this.oneVport(r, name);
    } catch (err) {
      if (NetlinkError.is(err, 'ENODEV')) return undefined;
      throw err;
    }
  }

  async listVports(dpIfindex: number): Promise<VportInfo[]> {
    const r = await this.call(this.families.vport, OVS_VPORT_CMD_GET, NLM_F_DUMP, encodeVportDump(dpIfindex), 'dump vports');
    return r.map((m) => decodeVport(decodeOvsHeader(m.familyHeader), m.attrs));
  }

  async setVportUpcallPids(dpIfindex: number, portNo: number, pids: readonly number[]): Promise<void> {
    await this.call(this.families.vport, OVS_VPORT_CMD_SET, 0, encodeVportSetUpcall(dpIfindex, portNo, pids), `set upcall pid of vport ${portNo}`);
  }

  async deleteVport(dpIfindex: number, portNo: number): Promise<void> {
    await this.call(this.families.vport, OVS_VPORT_CMD_DEL, 0, encodeVportByNumber(dpIfindex, portNo), `delete vport ${portNo}`);
  }

  private oneVport(replies: GenlReply[], name: string): VportInfo {
    const m = replies[0];
    if (m === undefined) throw new Error(`no reply describing vport ${name}`);
    return decodeVport(decodeOvsHeader(m.familyHeader), m.attrs);
  }

  async createFlow(dpIfindex: number, flow: FlowSpec): Promise<void> {
    await this.call(this.families.flow, OVS_FLOW_CMD_NEW, 0, encodeFlowNew(dpIfindex, flow), 'create flow');
  }

  async dumpFlows(dpIfindex: number): Promise<FlowInfo[]> {
    const r = await this.call(this.families.flow, OVS_FLOW_CMD_GET, NLM_F_DUMP, encodeFlowDump(dpIfindex), 'dump flows');
    return r.map((m) => decodeFlow(m.attrs));
  }

  /** Deletes one flow by its reported key, or all flows without one. */
  async deleteFlow(dpIfindex: number, rawKey?: Buffer): Promise<void> {
    await this.call(this.families.flow, OVS_FLOW_CMD_DEL, 0, encodeFlowDel(dpIfindex, rawKey), rawKey === undefined ? 'flush flows' : 'delete flow');
  }

  async clearFlowStats(dpIfindex: number, rawKey: Buffer): Promise<void> {
    await this.call(this.families.flow, OVS_FLOW_CMD_SET, 0, encodeFlowClearStats(dpIfindex, rawKey), 'clear flow stats');
  }

  async execute(dpIfindex: number, packet: Buffer, keyAttrs: Buffer, actions: readonly OdpAction[]): Promise<void> {
    await this.call(this.families.packet, OVS_PACKET_CMD_EXECUTE, 0, encodeExecute(dpIfindex, packet, keyAttrs, actions), 'execute packet');
  }
}
