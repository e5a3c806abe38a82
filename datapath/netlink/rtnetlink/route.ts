// Routes (RTM_*ROUTE): struct rtmsg + RTA_* attributes.
import { AttrSet, attr, attrU32 } from '../attributes.ts';
import { writeU32 } from '../host-endian.ts';
import { bytesToIp, ipFamily, ipToBytes, parseCidr } from '../inet.ts';
import {
  AF_INET,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTMSG_LEN,
  RTN_UNICAST,
  RTPROT_BOOT,
  RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
} from './constants.ts';

export interface RouteHeader {
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags: number;
}

export function encodeRtMsg(h: RouteHeader): Buffer {
  const b = Buffer.alloc(RTMSG_LEN);
  b.writeUInt8(h.family, 0);
  b.writeUInt8(h.dstLen, 1);
  b.writeUInt8(h.srcLen, 2);
  b.writeUInt8(h.tos, 3);
  b.writeUInt8(h.table, 4);
  b.writeUInt8(h.protocol, 5);
  b.writeUInt8(h.scope, 6);
  b.writeUInt8(h.type, 7);
  writeU32(b, h.flags, 8);
  return b;
}

export interface RouteSpec {
  /** "10.32.0.0/12", or "default" / "0.0.0.0/0" */
  dst: string;
  gateway?: string;
  /** output ifindex */
  oif?: number;
  table?: number;
  metric?: number;
  prefsrc?: string;
  /** default: link scope without gateway, universe with one (as iproute2 does) */
  scope?: number;
  protocol?: number;
  type?: number;
}

export interface Route {
  family: number;
  /** "10.32.0.0/12"; "default" for a zero-length prefix */
  dst: string;
  gateway?: string;
  oif?: number;
  table: number;
  metric?: number;
  prefsrc?: string;
  scope: number;
  protocol: number;
  type: number;
}

function parseDst(dst: string, familyHint?: number): { family: number; bytes?: Buffer; len: number } {
  if (dst === 'default') return { family: familyHint ?? AF_INET, len: 0 };
  const c = parseCidr(dst);
  return { family: c.family, bytes: ipToBytes(c.address), len: c.prefixLength };
}

export function encodeRoute(spec: RouteSpec): Buffer {
  const d = parseDst(spec.dst, spec.gateway !== undefined ? ipFamily(spec.gateway) : undefined);
  const table = spec.table ?? RT_TABLE_MAIN;
  const hdr = encodeRtMsg({
    family: d.family,
    dstLen: d.len,
    srcLen: 0,
    tos: 0,
    // tables above 255 only fit in RTA_TABLE
    table: table > 255 ? 0 : table,
    protocol: spec.protocol ?? RTPROT_BOOT,
    scope: spec.scope ?? (spec.gateway === undefined ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE),
    type: spec.type ?? RTN_UNICAST,
    flags: 0,
  });
  const attrs: Buffer[] = [];
  if (d.bytes !== undefined && d.len > 0) attrs.push(attr(RTA_DST, d.bytes));
  if (spec.gateway !== undefined) attrs.push(attr(RTA_GATEWAY, ipToBytes(spec.gateway)));
  if (spec.oif !== undefined) attrs.push(attrU32(RTA_OIF, spec.oif));
  if (spec.metric !== undefined) attrs.push(attrU32(RTA_PRIORITY, spec.metric));
  if (spec.prefsrc !== undefined) attrs.push(attr(RTA_PREFSRC, ipToBytes(spec.prefsrc)));
  if (table > 255) attrs.push(attrU32(RTA_TABLE, table));
  return Buffer.concat([hdr, ...attrs]);
}

export function decodeRoute(payload: Buffer): Route {
  if (payload.length < RTMSG_LEN) throw new Error(`short rtmsg (${payload.length} bytes)`);
  const family = payload.readUInt8(0);
  const dstLen = payload.readUInt8(1);
  const attrs = new AttrSet(payload.subarray(RTMSG_LEN));
  const dstBytes = attrs.get(RTA_DST);
  const route: Route = {
    family,
    dst: dstLen === 0 || dstBytes === undefined ? 'default' : `${bytesToIp(dstBytes)}/${dstLen}`,
    table: attrs.u32(RTA_TABLE) ?? payload.readUInt8(4),
    protocol: payload.readUInt8(5),
    scope: payload.readUInt8(6),
    type: payload.readUInt8(7),
  };
  const gw = attrs.get(RTA_GATEWAY);
  if (gw !== undefined) route.gateway = bytesToIp(gw);
  const oif = attrs.u32(RTA_OIF);
  if (oif !== undefined) route.oif = oif;
  const metric = attrs.u32(RTA_PRIORITY);
  if (metric !== undefined) route.metric = metric;
  const prefsrc = attrs.get(RTA_PREFSRC);
  if (prefsrc !== undefined) route.prefsrc = bytesToIp(prefsrc);
  return route;
}
