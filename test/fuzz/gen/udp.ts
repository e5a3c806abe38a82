// Inputs for the data ports: sleeve on UDP 6783 and fastdp's VXLAN on UDP 6784 — random
// datagrams, sleeve packets with truncated or lying frame records, captured packets of the real
// peers replayed (whole or cut short), forged heartbeats on both paths.
import { encodeHeartbeat } from '../../../router/overlay/fastdp-heartbeat.ts';
import { peerNameToBytes } from '../../../router/mesh/peer-name.ts';
import type { Rng } from './rng.ts';

export interface UdpContext {
  /** Peer names of the lab's daemons. */
  peers: string[];
  /** UDP payloads seen on the wire between the peers (port, payload). */
  captured: { port: number; payload: Buffer }[];
}

export interface UdpInput {
  port: number;
  payload: Buffer;
  what: string;
}

const HEARTBEAT_FRAME_SIZE = 22;

function randomMac(r: Rng): Buffer {
  const m = r.bytes(6);
  m[0] = (m[0]! & 0xfc) | 0x02; // locally administered unicast: never a container's
  return m;
}

function ethernetFrame(r: Rng): Buffer {
  const dst = r.bool(0.3) ? Buffer.alloc(6, 0xff) : randomMac(r);
  const type = r.pick([0x0800, 0x0806, 0x86dd, r.int(0x10000)]);
  const t = Buffer.alloc(2);
  t.writeUInt16BE(type);
  return Buffer.concat([dst, randomMac(r), t, r.bytes(r.range(0, 200))]);
}

function name(r: Rng, ctx: UdpContext): Buffer {
  return r.bool(0.7) && ctx.peers.length > 0 ? peerNameToBytes(r.pick(ctx.peers)) : r.bytes(6);
}

function frameRecord(r: Rng, ctx: UdpContext, frame: Buffer, lie: boolean): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(lie ? r.int(0x10000) : frame.length);
  return Buffer.concat([name(r, ctx), name(r, ctx), len, frame]);
}

function sleeveHeartbeat(r: Rng): Buffer {
  const f = Buffer.alloc(HEARTBEAT_FRAME_SIZE);
  f.writeBigUInt64BE(BigInt(r.int(2 ** 31)) * BigInt(r.int(2 ** 31)), 14);
  return f;
}

function vxlan(r: Rng, inner: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = r.bool(0.9) ? 0x08 : r.int(256);
  h.writeUIntBE(r.bool(0.5) ? r.int(1 << 24) : r.int(64), 4, 3);
  return Buffer.concat([h, inner]);
}

export function udpInput(r: Rng, ctx: UdpContext): UdpInput {
  const kind = r.weighted<string>([[20, 'random'], [25, 'sleeve'], [10, 'sleeve-heartbeat'], [15, 'replay'], [10, 'replay-cut'], [10, 'vxlan'], [10, 'vxlan-heartbeat']]);
  const sleevePort = 6783;
  const fastPort = 6784;
  switch (kind) {
    case 'random':
      return { port: r.pick([sleevePort, fastPort]), payload: r.bytes(r.weighted([[90, r.range(0, 1500)], [10, r.range(1500, 65000)]])), what: 'random datagram' };
    case 'sleeve': {
      const records = Array.from({ length: r.range(0, 4) }, () => frameRecord(r, ctx, ethernetFrame(r), r.bool(0.3)));
      const body = Buffer.concat([name(r, ctx), ...records]);
      const cut = r.bool(0.3) ? body.subarray(0, r.int(body.length + 1)) : body;
      return { port: sleevePort, payload: cut, what: 'sleeve packet (frames may lie or be cut)' };
    }
    case 'sleeve-heartbeat':
      return { port: sleevePort, payload: Buffer.concat([name(r, ctx), frameRecord(r, ctx, sleeveHeartbeat(r), false)]), what: 'forged sleeve heartbeat' };
    case 'replay':
    case 'replay-cut': {
      if (ctx.captured.length === 0) return { port: sleevePort, payload: r.bytes(r.range(0, 100)), what: 'random datagram (nothing captured)' };
      const c = r.pick(ctx.captured);
      const payload = kind === 'replay' ? c.payload : c.payload.subarray(0, r.int(c.payload.length));
      return { port: c.port, payload, what: kind === 'replay' ? `replayed packet to ${c.port}` : `replayed packet to ${c.port}, truncated` };
    }
    case 'vxlan':
      return { port: fastPort, payload: vxlan(r, ethernetFrame(r)), what: 'VXLAN with a random inner frame' };
    default: {
      const hb = encodeHeartbeat({
        connUid: BigInt(r.int(2 ** 31)) << 32n | BigInt(r.int(2 ** 31)),
        frameSize: r.pick([HEARTBEAT_FRAME_SIZE, 60, 1400, r.int(0x10000)]),
        ...(r.bool(0.7) && ctx.peers.length > 0 ? { ext: { sender: r.pick(ctx.peers), seq: r.int(2 ** 31) } } : {}),
      });
      const inner = Buffer.concat([Buffer.alloc(14), hb, Buffer.alloc(r.int(40))]);
      return { port: fastPort, payload: vxlan(r, inner), what: 'forged fastdp heartbeat' };
    }
  }
}
