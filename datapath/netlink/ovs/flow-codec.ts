// ovs_flow messages: install, delete (one or all), dump, clear statistics, and the flow reply.
import { attr, attrFlag } from '../attributes.ts';
import type { AttrSet } from '../attributes.ts';
import { readU64 } from '../host-endian.ts';
import { decodeActions, encodeActions } from './actions.ts';
import type { OdpAction } from './actions.ts';
import { OVS_FLOW_ATTR_ACTIONS, OVS_FLOW_ATTR_CLEAR, OVS_FLOW_ATTR_KEY, OVS_FLOW_ATTR_MASK, OVS_FLOW_ATTR_STATS, OVS_FLOW_ATTR_USED } from './constants.ts';
import { decodeFlowKeyAttrs, encodeFlowKeyAttrs } from './flow-key.ts';
import type { FlowKey } from './flow-key.ts';
import { encodeOvsHeader } from './ovs-header.ts';

export interface FlowSpec {
  key: FlowKey;
  /** Without a mask the kernel matches every field the key names exactly. */
  mask?: FlowKey;
  actions: OdpAction[];
}

export interface FlowInfo {
  key: FlowKey;
  mask?: FlowKey;
  actions: OdpAction[];
  packets: bigint;
  bytes: bigint;
  /** Kernel time (ms, monotonic) of the last packet; undefined = never used. */
  usedMs?: bigint;
  /** The key attributes exactly as the kernel reported them: the handle to delete or reset
   *  this flow (the kernel finds a flow by its unmasked key). */
  rawKey: Buffer;
}

export function encodeFlowNew(dpIfindex: number, flow: FlowSpec): Buffer {
  const parts = [encodeOvsHeader(dpIfindex), attr(OVS_FLOW_ATTR_KEY, encodeFlowKeyAttrs(flow.key))];
  if (flow.mask !== undefined) parts.push(attr(OVS_FLOW_ATTR_MASK, encodeFlowKeyAttrs(flow.mask)));
  parts.push(attr(OVS_FLOW_ATTR_ACTIONS, encodeActions(flow.actions)));
  return Buffer.concat(parts);
}

/** OVS_FLOW_CMD_DEL of one flow (by the key attributes it was reported with) or, without a key,
 *  of every flow of the datapath. */
export function encodeFlowDel(dpIfindex: number, rawKey?: Buffer): Buffer {
  return rawKey === undefined ? encodeOvsHeader(dpIfindex) : Buffer.concat([encodeOvsHeader(dpIfindex), attr(OVS_FLOW_ATTR_KEY, rawKey)]);
}

/** OVS_FLOW_CMD_SET body resetting a flow's statistics (and its used time). */
export function encodeFlowClearStats(dpIfindex: number, rawKey: Buffer): Buffer {
  return Buffer.concat([encodeOvsHeader(dpIfindex), attr(OVS_FLOW_ATTR_KEY, rawKey), attrFlag(OVS_FLOW_ATTR_CLEAR)]);
}

export function encodeFlowDump(dpIfindex: number): Buffer {
  return encodeOvsHeader(dpIfindex);
}

export function decodeFlow(attrs: AttrSet): FlowInfo {
  const rawKey = attrs.get(OVS_FLOW_ATTR_KEY) ?? Buffer.alloc(0);
  const stats = attrs.get(OVS_FLOW_ATTR_STATS);
  const flow: FlowInfo = {
    key: decodeFlowKeyAttrs(rawKey),
    actions: decodeActions(attrs.get(OVS_FLOW_ATTR_ACTIONS) ?? Buffer.alloc(0)),
    packets: stats !== undefined && stats.length >= 16 ? readU64(stats, 0) : 0n,
    bytes: stats !== undefined && stats.length >= 16 ? readU64(stats, 8) : 0n,
    rawKey: Buffer.from(rawKey),
  };
  const mask = attrs.get(OVS_FLOW_ATTR_MASK);
  if (mask !== undefined) flow.mask = decodeFlowKeyAttrs(mask);
  const used = attrs.u64(OVS_FLOW_ATTR_USED);
  if (used !== undefined) flow.usedMs = used;
  return flow;
}
