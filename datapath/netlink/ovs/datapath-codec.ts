// ovs_datapath messages: create, look up, delete a datapath, and its reply.
import { attrString, attrU32 } from '../attributes.ts';
import type { AttrSet } from '../attributes.ts';
import { readU64 } from '../host-endian.ts';
import { OVS_DP_ATTR_NAME, OVS_DP_ATTR_STATS, OVS_DP_ATTR_UPCALL_PID, OVS_DP_ATTR_USER_FEATURES } from './constants.ts';
import { encodeOvsHeader } from './ovs-header.ts';

export interface DatapathInfo {
  ifindex: number;
  name: string;
  userFeatures?: number;
  /** Packets that hit a flow, missed, or were lost on their way to user space; flows installed. */
  stats?: { hit: bigint; missed: bigint; lost: bigint; flows: bigint };
}

/** OVS_DP_CMD_NEW body. `upcallPid` receives misses for ports that have none of their own. */
export function encodeDatapathNew(name: string, upcallPid: number, userFeatures: number): Buffer {
  return Buffer.concat([
    encodeOvsHeader(0),
    attrString(OVS_DP_ATTR_NAME, name),
    attrU32(OVS_DP_ATTR_UPCALL_PID, upcallPid),
    attrU32(OVS_DP_ATTR_USER_FEATURES, userFeatures),
  ]);
}

/** OVS_DP_CMD_GET / OVS_DP_CMD_DEL body naming the datapath. */
export function encodeDatapathByName(name: string): Buffer {
  return Buffer.concat([encodeOvsHeader(0), attrString(OVS_DP_ATTR_NAME, name)]);
}

export function decodeDatapath(ifindex: number, attrs: AttrSet): DatapathInfo {
  const info: DatapathInfo = { ifindex, name: attrs.str(OVS_DP_ATTR_NAME) ?? '' };
  const features = attrs.u32(OVS_DP_ATTR_USER_FEATURES);
  if (features !== undefined) info.userFeatures = features;
  const s = attrs.get(OVS_DP_ATTR_STATS);
  if (s !== undefined && s.length >= 32) {
    info.stats = { hit: readU64(s, 0), missed: readU64(s, 8), lost: readU64(s, 16), flows: readU64(s, 24) };
  }
  return info;
}
