import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { overlayHook } from '../../../../router/overlay/overlay-hook.ts';
import type { NetworkOverlay, OverlayForwarder } from '../../../../router/overlay/contract.ts';
import type { MeshConnection } from '../../../../router/mesh/contract.ts';
import { silentLogger } from '../../../../common/logger.ts';

class FakeForwarder extends EventEmitter {
  calls: string[] = [];
  confirm() {
    this.calls.push('confirm');
  }
  controlMessage(tag: number, body: Buffer) {
    this.calls.push(`control ${tag} ${body.toString('hex')}`);
  }
  forward() {}
  stop() {
    this.calls.push('stop');
  }
  attrs() {
    return { name: 'sleeve' as const, mtu: 1438, encrypted: true };
  }
}

describe('overlayHook', function () {
  it('prepares and confirms a forwarder per connection and routes its events and control messages', function () {
    const fwd = new FakeForwarder();
    const prepared: string[] = [];
    const overlay = {
      features: () => ({ Overlays: 'sleeve' }),
      prepareConnection: (_c: MeshConnection, peer: string, outbound: boolean) => {
        prepared.push(`${peer} ${outbound}`);
        return fwd as unknown as OverlayForwarder;
      },
    } as unknown as NetworkOverlay;
    const hook = overlayHook(overlay, silentLogger());
    expect(hook.features?.()).to.deep.equal({ Overlays: 'sleeve' });
    const ctl = { est: 0, failed: [] as string[] };
    const conn = { remote: { name: '02:00:00:00:00:02' }, outbound: true } as unknown as MeshConnection;
    const oc = hook.attach(conn, { markEstablished: () => ctl.est++, fail: (e) => ctl.failed.push(e.message) });
    expect(prepared).to.deep.equal(['02:00:00:00:00:02 true']);
    expect(fwd.calls).to.deep.equal(['confirm']);

    oc.onControlMessage(7, Buffer.from('0003059e', 'hex')); // sleeve (index 0), PMTUVerified
    oc.onControlMessage(7, Buffer.from('0101', 'hex')); // another sub-forwarder: not ours
    oc.onControlMessage(7, Buffer.from('00', 'hex')); // truncated
    oc.onControlMessage(1, Buffer.alloc(0)); // legacy ConnectionEstablished
    expect(fwd.calls.slice(1)).to.deep.equal(['control 3 059e', 'control 1 ']);

    fwd.emit('established');
    fwd.emit('error', new Error('timed out waiting for UDP heartbeat'));
    expect(ctl).to.deep.equal({ est: 1, failed: ['timed out waiting for UDP heartbeat'] });
    expect(oc.attrs?.()).to.deep.equal({ name: 'sleeve', mtu: 1438, encrypted: true });
    oc.close();
    expect(fwd.calls.at(-1)).to.equal('stop');
  });
});
