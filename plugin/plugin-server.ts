// The Docker plugin endpoint: both NetworkDriver and IpamDriver served on one unix socket by an
// Express app, as a service inside the daemon process.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../common/logger.ts';
import type { Datapath } from '../datapath/contract.ts';
import type { Ipam } from '../ipam/contract.ts';
import { withDeadline } from './deadline.ts';
import { IpamDriver } from './ipam-driver.ts';
import { NetworkDriver, type DockerView, type HostPortRef, type ReconcileReport } from './network-driver.ts';
import { NetworkStore } from './network-store.ts';
import { BadRequestError, errorMessage, PluginError } from './plugin-error.ts';
import { noArgs, type Route, type RouteTable } from './route.ts';

export const DEFAULT_PLUGIN_SOCKET = '/run/docker/plugins/weave.sock';
/** Well below the ~30 s after which people (and systemd) give up on a hanging `docker` command. */
export const DEFAULT_REQUEST_DEADLINE_MS = 15_000;
const BODY_LIMIT = '1mb';
/** While the socket is bound: no access for others, whatever the daemon's umask (0660 follows). */
const SOCKET_UMASK = 0o117;
/** Docker ignores the reply content type; this is the one its plugin docs name. */
const REPLY_TYPE = 'application/vnd.docker.plugins.v1+json';

export interface PluginServerOptions {
  /** Unix socket to serve; Docker finds the plugin by its file name (weave.sock → "weave"). */
  socketPath: string;
  ipam: Ipam;
  datapath: Datapath;
  /** Directory for the network/endpoint state file. */
  dataDir: string;
  logger: Logger;
  /** Bridge the host ends of the veths are enslaved to (the daemon creates it). */
  bridgeName: string;
  /** MTU of the container interfaces. */
  mtu: number;
  /** Per-request deadline; Docker gets a 500 instead of waiting forever. */
  requestDeadlineMs?: number;
  /** How long after the start-up sync an orphaned address waits before it is released (default
   *  45 s: Docker retries a plugin call that found us down for up to 30 s, and such a retried
   *  CreateEndpoint may still come for it). */
  orphanGraceMs?: number;
  /** The host's ports on weave networks (`weave expose`), covered by their network's isolation. */
  hostPorts?: () => HostPortRef[];
  /** Addresses held by something other than a Docker endpoint (the host's exposed addresses):
   *  never released as orphans, though no endpoint and nothing in Docker uses them. */
  reservedAddresses?: () => string[];
}

export interface PluginNetworkStatus {
  id: string;
  subnet?: string;
  multicast: boolean;
  internal: boolean;
  endpoints: number;
}

export interface PluginStatus {
  socket: string;
  networks: PluginNetworkStatus[];
  endpoints: number;
  /** Outcome of the last reconcile(), if any ran. */
  reconciled?: ReconcileReport;
}

export class PluginServer {
  private readonly log: Logger;
  private readonly orphanGraceMs: number;
  private readonly store: NetworkStore;
  private readonly networkDriver: NetworkDriver;
  private readonly routes: Map<string, Route>;
  private readonly deadlineMs: number;
  private server: Server | undefined;
  private socketInode: number | undefined;
  private lastReconcile: ReconcileReport | undefined;
  private recordsLoaded = false;
  private ready: Promise<void> = Promise.reject(new PluginError('plugin is not started'));

  constructor(private readonly opts: PluginServerOptions) {
    this.log = opts.logger;
    this.orphanGraceMs = opts.orphanGraceMs ?? 45_000;
    this.deadlineMs = opts.requestDeadlineMs ?? DEFAULT_REQUEST_DEADLINE_MS;
    this.ready.catch(() => undefined);
    this.store = new NetworkStore({ dataDir: opts.dataDir });
    this.networkDriver = new NetworkDriver({
      store: this.store,
      datapath: opts.datapath,
      ipam: opts.ipam,
      logger: opts.logger,
      bridgeName: opts.bridgeName,
      mtu: opts.mtu,
      ...(opts.hostPorts ? { hostPorts: opts.hostPorts } : {}),
    });
    const ipamDriver = new IpamDriver({ ipam: opts.ipam, logger: opts.logger });
    const table: RouteTable = {
      '/Plugin.Activate': noArgs(() => ({ Implements: ['NetworkDriver', 'IpamDriver'] })),
      ...this.networkDriver.routes(),
      ...ipamDriver.routes(),
    };
    this.routes = new Map(Object.entries(table));
  }

  /** Listen first, load state afterwards: a managed plugin that is not listening ~10 s after
   *  start is disabled by Docker, and Docker's retries cover the short gap. Requests that
   *  arrive before the state is loaded wait for it. */
  async start(): Promise<void> {
    if (this.server !== undefined) return;
    const { socketPath } = this.opts;
    // Docker's plugin dir: whoever may write to it may put a socket of their own in our place
    await mkdir(dirname(socketPath), { recursive: true, mode: 0o755 });
    await this.removeStaleSocket();
    let loaded!: () => void;
    let failed!: (err: unknown) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      loaded = resolve;
      failed = reject;
    });
    this.ready.catch(() => undefined);
    const server = createServer(this.buildApp());
    // Node closes idle keep-alive connections after 5 s; dockerd's Go client keeps them for
    // reuse and a request racing that close fails with EOF. Like Go servers, never time out idle
    // connections; stop() closes them.
    server.keepAliveTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // bind() creates the socket file with 0777 minus the umask, and the chmod below comes only
      // after: under umask 000 anyone could connect in between and keep that connection. The bind
      // runs synchronously inside listen(), so a umask set around the call covers it alone.
      const umask = process.umask(SOCKET_UMASK);
      try {
        server.listen(socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
    server.on('error', (err) => this.log.error('plugin socket error', { error: errorMessage(err) }));
    this.server = server;
    try {
      await chmod(socketPath, 0o660);
      this.socketInode = (await lstat(socketPath)).ino;
      await this.store.load();
      this.recordsLoaded = true;
      this.startupView = {
        networks: new Set(this.store.networks().map((n) => n.id)),
        endpoints: new Set(this.store.endpoints().map((e) => e.id)),
        // only addresses allocated before this start may be reclaimed: a RequestAddress answered
        // after it may not have its endpoint yet
        addresses: new Set(this.opts.ipam.status().pools.flatMap((p) => (p.addresses ?? []).map((a) => `${p.poolId} ${a}`))),
      };
      loaded();
    } catch (err) {
      failed(err);
      await this.stop();
      throw err;
    }
    this.log.info('plugin listening', { socket: socketPath, networks: this.store.networks().length, endpoints: this.store.endpoints().length });
  }

  async stop(): Promise<void> {
    if (this.orphanTimer) clearTimeout(this.orphanTimer);
    this.orphanTimer = undefined;
    this.recordsLoaded = false;
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    // Docker keeps connections alive; without closing them `close` would wait for it forever.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    await this.store.idle();
    await this.unlinkOwnSocket();
    this.log.info('plugin stopped', { socket: this.opts.socketPath });
  }

  /** Clean up after a crash; call after start(). The outcome shows up in status(). */
  async reconcile(): Promise<void> {
    this.lastReconcile = await this.networkDriver.reconcile();
  }

  /** Re-applies the isolation policy after a host port came or went. Before the records are
   *  loaded there is nothing to apply it to: reconcile() after start() installs it, host ports
   *  included. */
  async refreshIsolation(): Promise<void> {
    if (!this.recordsLoaded) return;
    await this.networkDriver.refreshIsolation();
  }

  /** Records loaded at start: the only ones syncWithDocker may drop. */
  private startupView: DockerView | undefined;
  private orphanTimer: NodeJS.Timeout | undefined;

  /** Docker's view of its networks and endpoints, fetched by the daemon once Docker answers (never
   *  on a request path): drops what Docker removed while we were down and releases its addresses. */
  async syncWithDocker(present: DockerView): Promise<{ networks: number; endpoints: number; addresses?: number }> {
    const candidates = this.startupView;
    if (candidates === undefined) return { networks: 0, endpoints: 0 };
    this.startupView = undefined;
    const gone = await this.networkDriver.forgetGone(present, candidates);
    const pools = this.opts.ipam.status().pools;
    for (const ep of gone.endpoints) {
      const ip = ep.address.split('/')[0]!;
      const pool = pools.find((p) => p.addresses?.includes(ip) === true);
      if (pool) await this.opts.ipam.releaseAddress(pool.poolId, ip);
    }
    for (const n of gone.networks) {
      for (const pool of pools.filter((p) => n.subnets.includes(p.subnet))) await this.opts.ipam.releasePool(pool.poolId);
    }
    const orphans = this.orphanAddresses(present, candidates);
    if (orphans.length > 0) {
      this.log.info('addresses allocated before the restart that nothing uses; releasing them unless an endpoint claims them in time', { addresses: orphans.map((o) => o.ip), graceMs: this.orphanGraceMs });
      this.orphanTimer = setTimeout(() => void this.releaseOrphans(orphans), this.orphanGraceMs);
      this.orphanTimer.unref();
    }
    return { networks: gone.networks.length, endpoints: gone.endpoints.length, ...(orphans.length > 0 ? { addresses: orphans.length } : {}) };
  }

  /** An address whose RequestAddress we stored but could not answer (killed in between) is one
   *  Docker believes failed: it never releases it, and no endpoint record holds it. Docker's view
   *  of the addresses in use tells them apart from those of live endpoints and gateways. */
  private orphanAddresses(present: DockerView, candidates: DockerView): { poolId: string; ip: string }[] {
    if (present.addresses === undefined || candidates.addresses === undefined) return [];
    const held = this.heldAddresses();
    const out: { poolId: string; ip: string }[] = [];
    for (const pool of this.opts.ipam.status().pools) {
      for (const ip of pool.addresses ?? []) {
        if (candidates.addresses.has(`${pool.poolId} ${ip}`) && !present.addresses.has(ip) && !held.has(ip)) out.push({ poolId: pool.poolId, ip });
      }
    }
    return out;
  }

  private heldAddresses(): Set<string> {
    const reserved = (this.opts.reservedAddresses?.() ?? []).map((a) => a.split('/')[0]!);
    return new Set([...this.store.endpoints().map((e) => e.address.split('/')[0]!), ...reserved]);
  }

  /** After the grace: an endpoint Docker created meanwhile (a retried call) keeps its address. */
  private async releaseOrphans(orphans: { poolId: string; ip: string }[]): Promise<void> {
    this.orphanTimer = undefined;
    const held = this.heldAddresses();
    for (const { poolId, ip } of orphans) {
      if (held.has(ip)) continue;
      try {
        await this.opts.ipam.releaseAddress(poolId, ip);
        this.log.info('released an address no endpoint uses (allocated before a crash)', { poolId, address: ip });
      } catch (err) {
        this.log.warn('cannot release an orphaned address', { poolId, address: ip, error: errorMessage(err) });
      }
    }
  }

  status(): PluginStatus {
    const endpoints = this.store.endpoints();
    return {
      socket: this.opts.socketPath,
      networks: this.store.networks().map((n) => ({
        id: n.id,
        ...(n.subnets[0] === undefined ? {} : { subnet: n.subnets[0] }),
        multicast: n.multicast,
        internal: n.internal,
        endpoints: endpoints.filter((e) => e.networkId === n.id).length,
      })),
      endpoints: endpoints.length,
      ...(this.lastReconcile === undefined ? {} : { reconciled: this.lastReconcile }),
    };
  }

  private buildApp(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.disable('etag');
    // Docker sends no Content-Type, so parse every body as JSON. body-parser turns a
    // zero-length body into {}, which would make "no arguments" look like a valid "any pool"
    // RequestPool; remember the raw length so an empty body stays distinguishable.
    const bodyLengths = new WeakMap<IncomingMessage, number>();
    app.use(express.json({ type: () => true, limit: BODY_LIMIT, verify: (req, _res, buf) => void bodyLengths.set(req, buf.length) }));
    app.use((req: Request, res: Response, next: NextFunction) => {
      const route = req.method === 'POST' ? this.routes.get(req.path) : undefined;
      if (route === undefined) {
        next();
        return;
      }
      void this.dispatch(route, req, res, (bodyLengths.get(req) ?? 0) === 0);
    });
    app.use((req: Request, res: Response) => {
      // 404 is meaningful to Docker: "optional method not implemented".
      reply(res, 404, { Err: `unknown plugin method ${req.method} ${req.path}` });
    });
    app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
      const { status, message } = bodyErrorOf(err);
      this.log.warn('bad plugin request', { path: req.path, status, error: message });
      if (!res.headersSent) reply(res, status, { Err: message });
    });
    return app;
  }

  private async dispatch(route: Route, req: Request, res: Response, emptyBody: boolean): Promise<void> {
    const method = req.path.slice(1);
    const started = Date.now();
    // A caller that hangs up mid-request never learns what was created for it, so it can never
    // release it either: the handler is told, as after its deadline, and undoes its work.
    let callerGone = false;
    res.on('close', () => {
      if (!res.writableFinished) callerGone = true;
    });
    try {
      const body: unknown = emptyBody ? undefined : req.body;
      if (!route.needsBody && body !== undefined && !isPlainObject(body)) {
        throw new BadRequestError(`${method}: takes no arguments; expected an empty body or a JSON object`);
      }
      const result = await withDeadline(
        (ctx) => this.ready.then(() => route.handle(route.needsBody ? body : undefined, ctx)),
        this.deadlineMs,
        method,
        (err) => this.log.warn('request failed after its deadline or its caller hung up', { method, error: errorMessage(err) }),
        // a FIN from the caller counts too: Node's server aborts the request on it, and the
        // socket's 'close' may come only after this handler has answered into the void
        () => callerGone || (!res.writableFinished && (req.socket.destroyed || req.socket.readableEnded)),
      );
      this.log.debug('plugin request', { method, ms: Date.now() - started });
      reply(res, 200, result);
    } catch (err) {
      const status = err instanceof PluginError ? err.status : 500;
      const message = errorMessage(err);
      this.log.warn('plugin request failed', { method, status, error: message, ms: Date.now() - started });
      reply(res, status, { Err: message });
    }
  }

  private async removeStaleSocket(): Promise<void> {
    const { socketPath } = this.opts;
    const st = await lstat(socketPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (st === undefined) return;
    if (!st.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
    if (await socketAnswers(socketPath)) throw new Error(`another process is already serving ${socketPath}`);
    // A dead socket file costs every `docker info` a timeout and blocks our listen.
    await unlink(socketPath);
    this.log.info('removed stale plugin socket', { socket: socketPath });
  }

  private async unlinkOwnSocket(): Promise<void> {
    const { socketPath } = this.opts;
    try {
      // Only our own: a successor may already have replaced it.
      if ((await lstat(socketPath)).ino === this.socketInode) await unlink(socketPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn('cannot remove plugin socket', { error: errorMessage(err) });
    }
  }
}

function reply(res: Response, status: number, body: object): void {
  if (res.headersSent) return;
  res.status(status).type(REPLY_TYPE).send(JSON.stringify(body));
}

/** body-parser errors carry `type`/`status`; anything there is the client's fault → 400. */
function bodyErrorOf(err: unknown): { status: number; message: string } {
  const e = err as { type?: string; status?: number; message?: string };
  if (e.type === 'entity.too.large') return { status: 400, message: 'request body larger than 1 MiB' };
  if (e.type === 'entity.parse.failed') return { status: 400, message: `request body is not valid JSON: ${e.message ?? ''}` };
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return { status: 400, message: e.message ?? 'bad request' };
  return { status: 500, message: errorMessage(err) };
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const done = (answered: boolean) => {
      sock.destroy();
      resolve(answered);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.setTimeout(1000, () => done(false));
  });
}
