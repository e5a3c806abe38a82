// Bridge port flags (RTM_SETLINK, family AF_BRIDGE, IFLA_PROTINFO), as `bridge link set dev X
// isolated on learning off ...` sends them. Pure codec; the caller sends it on an rtnetlink
// socket.
import { attrFlag, attrNested, attrU8 } from '../attributes.ts';
import { encodeIfInfo } from './link.ts';
import { AF_BRIDGE } from './constants.ts';

const IFLA_PROTINFO = 12;
const IFLA_BRPORT_LEARNING = 8;
const IFLA_BRPORT_UNICAST_FLOOD = 9;
const IFLA_BRPORT_FLUSH = 24;
const IFLA_BRPORT_MCAST_FLOOD = 27;
const IFLA_BRPORT_BCAST_FLOOD = 30;
const IFLA_BRPORT_ISOLATED = 33;

export interface BridgePortFlags {
  /** Isolated ports do not exchange frames with each other, only with non-isolated ports. */
  isolated?: boolean;
  /** The bridge learns source MACs of frames entering through this port. */
  learning?: boolean;
  /** Unknown-unicast, multicast and broadcast frames are flooded out of this port. */
  unicastFlood?: boolean;
  multicastFlood?: boolean;
  broadcastFlood?: boolean;
  /** Forget the dynamic FDB entries learned on this port. */
  flush?: boolean;
}

export function encodeBridgePortFlags(index: number, f: BridgePortFlags): Buffer {
  const attrs: Buffer[] = [];
  const flag = (type: number, v: boolean | undefined): void => {
    if (v !== undefined) attrs.push(attrU8(type, v ? 1 : 0));
  };
  flag(IFLA_BRPORT_LEARNING, f.learning);
  flag(IFLA_BRPORT_UNICAST_FLOOD, f.unicastFlood);
  flag(IFLA_BRPORT_MCAST_FLOOD, f.multicastFlood);
  flag(IFLA_BRPORT_BCAST_FLOOD, f.broadcastFlood);
  flag(IFLA_BRPORT_ISOLATED, f.isolated);
  if (f.flush === true) attrs.push(attrFlag(IFLA_BRPORT_FLUSH));
  return Buffer.concat([encodeIfInfo({ family: AF_BRIDGE, index }), attrNested(IFLA_PROTINFO, attrs)]);
}
