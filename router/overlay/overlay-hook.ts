// Plugs a NetworkOverlay into the mesh router (router/mesh/route-table.ts's OverlayHook): one
// forwarder per connection, confirmed when the router registers the connection; its
// established/error events become markEstablished/fail; control messages arrive as tag 7
// (unwrapped here) or, from peers without the Overlays feature, as legacy tags 1-3.
import type { Logger } from 'winston';
import type { MeshConnection } from '../mesh/contract.ts';
import { ProtocolTag } from '../mesh/contract.ts';
import type { OverlayConnection, OverlayConnectionControl, OverlayHook } from '../mesh/route-table.ts';
import type { NetworkOverlay } from './contract.ts';

/** Our sub-forwarder index inside tag 7: sleeve is the only overlay we offer. */
const SLEEVE_INDEX = 0;

export function overlayHook(overlay: NetworkOverlay, logger: Logger): OverlayHook {
  const log = logger.child({ component: 'overlay-hook' });
  return {
    features: () => overlay.features(),
    attach(conn: MeshConnection, ctl: OverlayConnectionControl): OverlayConnection {
      const fwd = overlay.prepareConnection(conn, conn.remote.name, conn.outbound);
      fwd.on('established', () => ctl.markEstablished());
      fwd.on('error', (err) => ctl.fail(err));
      fwd.confirm();
      return {
        onControlMessage(tag: number, payload: Buffer): void {
          if (tag === ProtocolTag.OverlayControlMsg) {
            if (payload.length < 2) {
              log.debug('Ignoring truncated overlay control message');
              return;
            }
            if (fwd.subControlMessage) {
              fwd.subControlMessage(payload[0]!, payload[1]!, payload.subarray(2));
              return;
            }
            if (payload[0] !== SLEEVE_INDEX) {
              log.debug(`Ignoring control message for sub-forwarder ${payload[0]}`);
              return;
            }
            fwd.controlMessage(payload[1]!, payload.subarray(2));
            return;
          }
          fwd.controlMessage(tag, payload);
        },
        close(): void {
          fwd.stop();
        },
        // shown in status as the connection's overlay (name, mtu, encrypted)
        attrs(): Record<string, unknown> {
          return { ...fwd.attrs() };
        },
      };
    },
  };
}
