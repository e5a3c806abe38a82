// Opening mesh connections: dial or accept, run the introduction, check who is on the other
// end, and hand the socket to a ProtocolConnection.
import { randomBytes } from 'node:crypto';
import { connect as netConnect, isIPv6 } from 'node:net';
import type { Socket } from 'node:net';
import type { Logger } from '../../common/logger.ts';
import type { HandshakeOptions, MeshConnection } from './contract.ts';
import { ConnectToSelfError, PeerNameCollisionError } from './errors.ts';
import { makeFeatures, parseFeatures } from './features.ts';
import { exchangeIntro, HEADER_TIMEOUT_MS } from './handshake.ts';
import { ProtocolConnection } from './protocol-connection.ts';

export const DEFAULT_MESH_PORT = 6783;

export interface MeshConnectOptions extends HandshakeOptions {
  logger: Logger;
  /** TCP heartbeat interval (Weave: 30 s). */
  heartbeatIntervalMs?: number;
  /** Close when nothing arrives for this long (Weave: 60 s). */
  heartbeatTimeoutMs?: number;
  /** Outbound TCP connect timeout (default: the header timeout). */
  dialTimeoutMs?: number;
  /** Local address to dial from (Weave dials from <host>:0): picks the interface on multi-homed hosts. */
  localAddress?: string;
}

/** "host:port", "[v6]:port", or a bare host/IP meaning the default port. */
export function parseMeshAddress(address: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] ? toPort(bracketed[2], address) : DEFAULT_MESH_PORT };
  if (isIPv6(address)) return { host: address, port: DEFAULT_MESH_PORT };
  const idx = address.lastIndexOf(':');
  if (idx < 0) return { host: address, port: DEFAULT_MESH_PORT };
  return { host: address.slice(0, idx), port: toPort(address.slice(idx + 1), address) };
}

function toPort(text: string, address: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw new Error(`bad port in mesh address ${JSON.stringify(address)}`);
  return port;
}

function randomConnId(): bigint {
  return randomBytes(8).readBigUInt64LE(0);
}

export async function dialMesh(address: string, opts: MeshConnectOptions): Promise<MeshConnection> {
  const { host, port } = parseMeshAddress(address);
  const timeoutMs = opts.dialTimeoutMs ?? opts.headerTimeoutMs ?? HEADER_TIMEOUT_MS;
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = netConnect({ host, port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    const onError = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    const timer = setTimeout(() => {
      s.off('error', onError);
      s.on('error', () => undefined); // destroy() below must not surface a late error as uncaught
      s.destroy();
      reject(new Error(`connect to ${address} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('error', onError);
    s.once('connect', () => {
      clearTimeout(timer);
      s.off('error', onError);
      resolve(s);
    });
  });
  return establish(socket, true, opts);
}

export function acceptMesh(socket: Socket, opts: MeshConnectOptions): Promise<MeshConnection> {
  return establish(socket, false, opts);
}

async function establish(socket: Socket, outbound: boolean, opts: MeshConnectOptions): Promise<MeshConnection> {
  socket.setNoDelay(true);
  const connId = randomConnId();
  try {
    const intro = await exchangeIntro({
      socket,
      outbound,
      features: makeFeatures(opts.local, connId, opts.features),
      ...(opts.password ? { password: opts.password } : {}),
      ...(opts.minVersion !== undefined ? { minVersion: opts.minVersion } : {}),
      ...(opts.maxVersion !== undefined ? { maxVersion: opts.maxVersion } : {}),
      ...(opts.headerTimeoutMs !== undefined ? { headerTimeoutMs: opts.headerTimeoutMs } : {}),
      ...(opts.featuresTimeoutMs !== undefined ? { featuresTimeoutMs: opts.featuresTimeoutMs } : {}),
    });
    const remote = parseFeatures(intro.features);
    if (remote.name === opts.local.name) {
      if (remote.uid === opts.local.uid) throw new ConnectToSelfError();
      throw new PeerNameCollisionError(opts.local.name, opts.local.uid, remote.uid);
    }
    const conn = new ProtocolConnection({
      socket,
      leftover: intro.leftover,
      local: opts.local,
      remote,
      outbound,
      version: intro.version,
      connUid: connId ^ remote.connId,
      ...(intro.sessionKey ? { sessionKey: intro.sessionKey } : {}),
      ...(intro.sender ? { sender: intro.sender } : {}),
      ...(intro.receiver ? { receiver: intro.receiver } : {}),
      ...(opts.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: opts.heartbeatIntervalMs } : {}),
      ...(opts.heartbeatTimeoutMs !== undefined ? { heartbeatTimeoutMs: opts.heartbeatTimeoutMs } : {}),
      logger: opts.logger,
    });
    opts.logger.debug('connection ready', { remote: remote.name, outbound, version: intro.version });
    return conn;
  } catch (err) {
    // The handshake's listeners are gone; a late socket error must not become an uncaught one.
    socket.on('error', () => undefined);
    socket.destroy();
    throw err;
  }
}
