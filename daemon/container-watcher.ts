import type { Logger } from '../common/logger.ts';
import { RetryingService } from '../common/retry-loop.ts';
import type { ContainerInfo, ContainerListener, ContainerNetwork } from './container-info.ts';
import type { DockerClient, DockerEventFilters } from './docker-client.ts';
import { parseContainer, parseEvent, parseNetwork } from './engine-records.ts';
import type { EngineEvent, NetworkRecord } from './engine-records.ts';

export interface ContainerWatcherOptions {
  docker: DockerClient;
  logger: Logger;
  /** Which network drivers are ours, as Docker names them ('weave', 'weave:latest', ...).
   *  Default: 'weave' with or without ':latest'. */
  isOurDriver?: (driver: string) => boolean;
  /** Reconnect backoff: first delay, doubling up to maxDelayMs while Docker does not answer. */
  firstDelayMs?: number;
  maxDelayMs?: number;
}

/** Docker attaches a container whose networks give it no default route (ours) to this bridge
 *  network, and lists that endpoint only in the network's inspect, not the container's. */
const GWBRIDGE = 'docker_gwbridge';

const EVENT_FILTERS: DockerEventFilters = {
  type: ['container', 'network'],
  // ANDed with type: network 'destroy' comes along too, and drops the network from the cache
  event: ['start', 'die', 'destroy', 'rename', 'connect', 'disconnect'],
};

/** Far above any real event (a few hundred bytes): a bound, so a stream without newlines cannot
 *  grow our memory. */
const MAX_EVENT_LINE = 1 << 20;

type Loaded = { kind: 'running'; info: ContainerInfo } | { kind: 'gone' } | { kind: 'bad' };

/** Keeps a live view of the running containers and their network attachments from the Engine
 *  API: lists and inspects them once Docker answers, then follows the event stream. When the
 *  stream ends (dockerd restarts) it reconnects with backoff and lists again, so events missed
 *  in between are repaired. Runs beside the plugin, never in a plugin request: at dockerd
 *  start-up the Engine API is not served yet and dockerd waits on us. */
export class ContainerWatcher extends RetryingService {
  private readonly containers = new Map<string, ContainerInfo>();
  /** Address -> container ID over every network: DNS asks it for each query it scopes. */
  private readonly byAddress = new Map<string, string>();
  /** Network name, driver and subnets never change for a network ID; dropped on its destroy. */
  private readonly networks = new Map<string, NetworkRecord>();
  private readonly listeners = new Set<ContainerListener>();
  private readonly isOurDriver: (driver: string) => boolean;
  private session: AbortController | undefined;
  private current: Promise<unknown> | undefined;
  private connected_ = false;
  private syncs_ = 0;

  constructor(private readonly opts: ContainerWatcherOptions) {
    super({ firstDelayMs: opts.firstDelayMs ?? 500, maxDelayMs: opts.maxDelayMs ?? 10_000 });
    this.isOurDriver = opts.isOurDriver ?? ((d) => d.replace(/:latest$/, '') === 'weave');
  }

  /** Registers a listener; returns the function that removes it. */
  addListener(listener: ContainerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(id: string): ContainerInfo | undefined {
    return this.containers.get(id);
  }

  all(): ContainerInfo[] {
    return [...this.containers.values()];
  }

  /** The container with this address on any of its networks, ours or not: a container's DNS
   *  queries may come from its docker_gwbridge address. */
  byIp(ipv4: string): ContainerInfo | undefined {
    const id = this.byAddress.get(ipv4);
    return id === undefined ? undefined : this.containers.get(id);
  }

  /** The container's attachments to networks of our driver. */
  weaveNetworks(info: ContainerInfo): ContainerNetwork[] {
    return info.networks.filter((n) => this.isOurDriver(n.driver));
  }

  /** True while the event stream is open and the view has been listed afresh. */
  get connected(): boolean {
    return this.connected_;
  }

  /** How many full listings have completed (one per successful (re)connect). */
  get syncs(): number {
    return this.syncs_;
  }

  override async stop(): Promise<void> {
    await super.stop();
    this.session?.abort();
    await this.current;
  }

  protected async attempt(): Promise<'done' | 'retry'> {
    const session = new AbortController();
    this.session = session;
    const run = this.follow(session);
    this.current = run.catch(() => undefined);
    try {
      if (await run) this.loop.resetBackoff();
    } catch (err) {
      this.opts.logger.warn('cannot follow Docker events; will retry', { error: message(err), retryInMs: this.loop.nextDelayMs });
    } finally {
      this.connected_ = false;
      session.abort();
    }
    return this.loop.stopped ? 'done' : 'retry';
  }

  /** One connection: open the stream first (events from then on are kept), list everything, then
   *  apply events in order until the stream ends. True when it got as far as a full listing. */
  private async follow(session: AbortController): Promise<boolean> {
    const { docker, logger } = this.opts;
    const signal = session.signal;
    if (!(await docker.ping())) {
      logger.debug('docker not answering yet; will retry', { retryInMs: this.loop.nextDelayMs });
      return false;
    }
    const stream = await docker.events(EVENT_FILTERS, signal);
    let listed = false;
    // One job at a time, in arrival order: each inspects Docker afresh, so the last one wins.
    let queue: Promise<void> = Promise.resolve();
    const enqueue = (job: () => Promise<void>) => {
      queue = queue.then(async () => {
        if (signal.aborted) return;
        try {
          await job();
        } catch (err) {
          // Our view may now be stale: end this connection so the next one lists again.
          logger.warn('docker call failed while following events; reconnecting', { error: message(err) });
          session.abort();
        }
      });
    };
    enqueue(async () => {
      await this.resync(signal);
      if (signal.aborted) return;
      listed = true;
      this.connected_ = true;
      this.syncs_++;
    });

    let pending = '';
    // decoded by the stream, so a character split across chunks arrives whole
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      if (pending.length > MAX_EVENT_LINE) {
        logger.warn('dropping an over-long Engine API event line', { length: pending.length });
        pending = '';
      }
      for (const line of lines) {
        if (line.trim() === '') continue;
        const ev = parseEvent(line);
        if (!ev.ok) {
          logger.warn('skipping an Engine API event we cannot read', { error: ev.error });
          continue;
        }
        enqueue(() => this.apply(ev.value));
      }
    });
    await new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      // on, not once: an aborted response can report more than one error, and an 'error' with no
      // listener would take the whole daemon down
      stream.on('error', (err: unknown) => {
        if (!signal.aborted) logger.info('docker event stream failed', { error: message(err) });
        resolve();
      });
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    if (!signal.aborted) logger.info('docker event stream ended; reconnecting', { retryInMs: this.loop.nextDelayMs });
    session.abort();
    await queue;
    return listed;
  }

  /** Lists the running containers and makes the view match: new and changed ones are upserted,
   *  ones no longer running removed. */
  private async resync(signal: AbortSignal): Promise<void> {
    const ids = await this.opts.docker.listRunningContainerIds();
    const gwbridge = await this.gwbridge();
    const keep = new Set<string>();
    for (const id of ids) {
      if (signal.aborted) return;
      const loaded = await this.load(id, gwbridge);
      if (loaded.kind === 'running') {
        keep.add(loaded.info.id);
        this.put(loaded.info);
      } else if (loaded.kind === 'bad') {
        keep.add(id);
      }
    }
    for (const id of [...this.containers.keys()]) {
      if (!keep.has(id)) this.remove(id);
    }
    this.opts.logger.info('container view listed afresh', { containers: this.containers.size });
  }

  private async apply(ev: EngineEvent): Promise<void> {
    if (ev.type === 'container') {
      if (ev.action === 'die' || ev.action === 'destroy') this.remove(ev.actorId);
      else if (ev.action === 'start' || ev.action === 'rename') await this.refresh(ev.actorId);
    } else if (ev.type === 'network') {
      if (ev.action === 'destroy') {
        this.networks.delete(ev.actorId);
        return;
      }
      const container = ev.attributes['container'];
      if ((ev.action === 'connect' || ev.action === 'disconnect') && container) await this.refresh(container);
    }
  }

  private async refresh(id: string): Promise<void> {
    const loaded = await this.load(id, await this.gwbridge());
    if (loaded.kind === 'running') this.put(loaded.info);
    else if (loaded.kind === 'gone') this.remove(id);
  }

  /** Inspects one container and its networks. A stopped container counts as gone. */
  private async load(id: string, gwbridge: NetworkRecord | undefined): Promise<Loaded> {
    const { docker, logger } = this.opts;
    const raw = await docker.inspectContainer(id);
    if (raw === undefined) return { kind: 'gone' };
    const parsed = parseContainer(raw);
    if (!parsed.ok) {
      logger.warn('skipping a container whose inspect we cannot read', { id, error: parsed.error });
      return { kind: 'bad' };
    }
    const c = parsed.value;
    if (!c.running) return { kind: 'gone' };
    if (c.skipped.length > 0) logger.warn('skipping container endpoints we cannot read', { id, networks: c.skipped });
    const networks: ContainerNetwork[] = [];
    for (const ep of c.endpoints) {
      const net = await this.network(ep.networkId);
      if (!net) continue;
      networks.push({ networkId: ep.networkId, networkName: ep.networkName, driver: net.driver, endpointId: ep.endpointId, ipv4: ep.ipv4, aliases: ep.aliases, subnets: net.subnets });
    }
    const gw = gwbridge?.attachments.get(c.id);
    if (gwbridge && gw && !networks.some((n) => n.networkId === gwbridge.id)) {
      networks.push({ networkId: gwbridge.id, networkName: gwbridge.name, driver: gwbridge.driver, endpointId: gw.endpointId, ipv4: gw.ipv4, aliases: [], subnets: gwbridge.subnets });
    }
    networks.sort((a, b) => a.networkName.localeCompare(b.networkName));
    return { kind: 'running', info: { id: c.id, name: c.name, hostname: c.hostname, domainname: c.domainname, networks } };
  }

  /** A network's record from the cache, or inspected; undefined (logged) when it is gone or
   *  unreadable, so the container is kept without that attachment. */
  private async network(id: string): Promise<NetworkRecord | undefined> {
    const cached = this.networks.get(id);
    if (cached) return cached;
    const raw = await this.opts.docker.inspectNetwork(id);
    if (raw === undefined) {
      this.opts.logger.debug('network gone while inspecting a container', { network: id });
      return undefined;
    }
    const parsed = parseNetwork(raw);
    if (!parsed.ok) {
      this.opts.logger.warn('skipping a network whose inspect we cannot read', { network: id, error: parsed.error });
      return undefined;
    }
    // the attachments change all the time; only the fixed facts are worth keeping
    const record = { ...parsed.value, attachments: new Map() };
    this.networks.set(id, record);
    return record;
  }

  /** docker_gwbridge with its current attachments (not cached: they change with every container). */
  private async gwbridge(): Promise<NetworkRecord | undefined> {
    const raw = await this.opts.docker.inspectNetwork(GWBRIDGE);
    if (raw === undefined) return undefined;
    const parsed = parseNetwork(raw);
    if (!parsed.ok) {
      this.opts.logger.warn(`skipping ${GWBRIDGE}: cannot read its inspect`, { error: parsed.error });
      return undefined;
    }
    return parsed.value;
  }

  private put(info: ContainerInfo): void {
    const old = this.containers.get(info.id);
    if (old && JSON.stringify(old) === JSON.stringify(info)) return;
    if (old) this.unindex(old);
    this.containers.set(info.id, info);
    for (const n of info.networks) if (n.ipv4 !== '') this.byAddress.set(n.ipv4, info.id);
    this.emit((l) => l.onUpsert?.(info));
  }

  private remove(id: string): void {
    const old = this.containers.get(id);
    if (!old) return;
    this.containers.delete(id);
    this.unindex(old);
    this.emit((l) => l.onRemove?.(id));
  }

  /** Only entries still pointing at this container: an address may already be another's. */
  private unindex(info: ContainerInfo): void {
    for (const n of info.networks) if (this.byAddress.get(n.ipv4) === info.id) this.byAddress.delete(n.ipv4);
  }

  private emit(call: (l: ContainerListener) => void): void {
    for (const l of this.listeners) {
      try {
        call(l);
      } catch (err) {
        this.opts.logger.error('container listener failed', { error: message(err) });
      }
    }
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
