// Loopback TCP helpers for the wire tests (127.0.0.1, port 0 only).
import { createServer, connect } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

export interface Listening {
  server: Server;
  address: string;
  /** The next accepted socket. */
  accepted(): Promise<Socket>;
  close(): Promise<void>;
}

export async function listen(): Promise<Listening> {
  const queue: Socket[] = [];
  const waiters: ((s: Socket) => void)[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    const w = waiters.shift();
    if (w) w(s);
    else queue.push(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    address: `127.0.0.1:${port}`,
    accepted: () => {
      const s = queue.shift();
      return s ? Promise.resolve(s) : new Promise<Socket>((resolve) => waiters.push(resolve));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A connected pair of sockets: [dialled end, accepted end]. */
export async function socketPair(l: Listening): Promise<[Socket, Socket]> {
  const client = connect({ host: '127.0.0.1', port: Number(l.address.split(':')[1]) });
  const [server] = await Promise.all([l.accepted(), new Promise<void>((resolve) => client.once('connect', () => resolve()))]);
  return [client, server];
}

/** Collects everything a raw socket receives. */
export function collect(s: Socket): { bytes: () => Buffer; waitFor: (n: number, ms?: number) => Promise<Buffer> } {
  const chunks: Buffer[] = [];
  let notify: (() => void) | undefined;
  s.on('data', (c: Buffer) => {
    chunks.push(c);
    notify?.();
  });
  const bytes = (): Buffer => Buffer.concat(chunks);
  return {
    bytes,
    waitFor: (n, ms = 2000) =>
      new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${n} bytes (have ${bytes().length})`)), ms);
        const check = (): void => {
          if (bytes().length >= n) {
            clearTimeout(timer);
            notify = undefined;
            resolve(bytes());
          }
        };
        notify = check;
        check();
      }),
  };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
