// Datapath actions: output to a vport, set the tunnel metadata for the next tunnel output;
// other action types are carried as raw attributes.
import { attr, attrU32, decodeAttrs } from '../attributes.ts';
import { readU32 } from '../host-endian.ts';
import { OVS_ACTION_ATTR_OUTPUT, OVS_ACTION_ATTR_SET, OVS_KEY_ATTR_TUNNEL } from './constants.ts';
import { decodeTunnelKey, encodeTunnelKey } from './flow-key.ts';
import type { TunnelKey } from './flow-key.ts';

export type OdpAction =
  | { kind: 'output'; port: number }
  | { kind: 'set-tunnel'; tunnel: TunnelKey }
  | { kind: 'raw'; type: number; data: Buffer };

/** The concatenated action attributes (to wrap in OVS_FLOW_ATTR_ACTIONS or
 *  OVS_PACKET_ATTR_ACTIONS). An empty list means drop. */
export function encodeActions(actions: readonly OdpAction[]): Buffer {
  return Buffer.concat(
    actions.map((a) => {
      switch (a.kind) {
        case 'output':
          return attrU32(OVS_ACTION_ATTR_OUTPUT, a.port);
        case 'set-tunnel':
          return attr(OVS_ACTION_ATTR_SET, encodeTunnelKey(OVS_KEY_ATTR_TUNNEL, a.tunnel));
        case 'raw':
          return attr(a.type, a.data);
      }
    }),
  );
}

export function decodeActions(buf: Buffer): OdpAction[] {
  return decodeAttrs(buf).map((a): OdpAction => {
    if (a.type === OVS_ACTION_ATTR_OUTPUT && a.data.length >= 4) return { kind: 'output', port: readU32(a.data, 0) };
    if (a.type === OVS_ACTION_ATTR_SET) {
      const inner = decodeAttrs(a.data)[0];
      if (inner !== undefined && inner.type === OVS_KEY_ATTR_TUNNEL) return { kind: 'set-tunnel', tunnel: decodeTunnelKey(inner.data) };
    }
    return { kind: 'raw', type: a.type, data: a.data };
  });
}
