// ovs_packet messages: MISS upcalls from the kernel, EXECUTE of a packet with actions.
import { attr } from '../attributes.ts';
import type { AttrSet } from '../attributes.ts';
import { encodeActions } from './actions.ts';
import type { OdpAction } from './actions.ts';
import { OVS_PACKET_ATTR_ACTIONS, OVS_PACKET_ATTR_KEY, OVS_PACKET_ATTR_PACKET, OVS_PACKET_ATTR_USERDATA } from './constants.ts';
import { decodeFlowKeyAttrs } from './flow-key.ts';
import type { FlowKey } from './flow-key.ts';
import { encodeOvsHeader } from './ovs-header.ts';

export interface Upcall {
  /** OVS_PACKET_CMD_MISS or OVS_PACKET_CMD_ACTION. */
  cmd: number;
  dpIfindex: number;
  /** The whole Ethernet frame. */
  packet: Buffer;
  /** The key the kernel extracted (ingress port, tunnel metadata, headers). */
  key: FlowKey;
  /** The key attributes as sent, to hand back with EXECUTE. */
  rawKey: Buffer;
  userdata?: Buffer;
}

export function decodeUpcall(cmd: number, dpIfindex: number, attrs: AttrSet): Upcall {
  const packet = attrs.get(OVS_PACKET_ATTR_PACKET);
  const rawKey = attrs.get(OVS_PACKET_ATTR_KEY);
  if (packet === undefined || rawKey === undefined) throw new Error('upcall without packet or key');
  const up: Upcall = { cmd, dpIfindex, packet: Buffer.from(packet), key: decodeFlowKeyAttrs(rawKey), rawKey: Buffer.from(rawKey) };
  const userdata = attrs.get(OVS_PACKET_ATTR_USERDATA);
  if (userdata !== undefined) up.userdata = Buffer.from(userdata);
  return up;
}

/** OVS_PACKET_CMD_EXECUTE: the kernel parses the headers from the packet itself and takes only
 *  metadata (ingress port, tunnel) from the key attributes. */
export function encodeExecute(dpIfindex: number, packet: Buffer, keyAttrs: Buffer, actions: readonly OdpAction[]): Buffer {
  return Buffer.concat([
    encodeOvsHeader(dpIfindex),
    attr(OVS_PACKET_ATTR_PACKET, packet),
    attr(OVS_PACKET_ATTR_KEY, keyAttrs),
    attr(OVS_PACKET_ATTR_ACTIONS, encodeActions(actions)),
  ]);
}
