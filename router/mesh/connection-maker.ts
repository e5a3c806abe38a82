// Decides whom to dial and when: direct targets (command line, `weave connect`), targets
// discovered from gossiped topology, and reconnects with backoff.
//
// One deterministic dialler: two peers that discover each other would otherwise both dial and
// the duplicate would be killed by the tie-break (Weave's "Multiple connections" churn). Here a
// discovered peer with a *lower* name than ours is expected to dial us, so we hold back for
// `discoveryDeferMs` and dial only if it has not. Direct targets are always dialled; a direct
// target whose peer is already connected to us (it dialled first) is suspended, not re-dialled.

import type { Logger } from '../../common/logger.ts';
import { Backoff } from './backoff.ts';
import type { Clock, TimerHandle } from './clock.ts';
import type { MeshConnection, PeerName } from './contract.ts';
import { DuplicateConnectionError, isNeverRetried } from './errors.ts';
import type { LocalPeer } from './local-peer.ts';
import type { Peers } from './peers.ts';

export const DEFAULT_DISCOVERY_DEFER_MS = 15_000;

export type TargetState = 'waiting' | 'attempting' | 'connected' | 'suspended';

export interface TargetStatus {
  address: string;
  state: TargetState;
  lastError?: string;
  /** Epoch ms of the next attempt (Infinity = never) while waiting. */
  tryAfter: number;
  direct: boolean;
  peer?: PeerName;
}

/** Weave's LocalConnectionStatus for a target that is not connected. */
export interface TargetConnectionStatus {
  address: string;
  outbound: true;
  state: 'waiting' | 'failed' | 'connecting' | 'retrying';
  info: string;
}

export interface DialOptions {
  /** Command-line targets may bring peers we have never heard of; discovered ones may not. */
  acceptNewPeer: boolean;
}

export interface ConnectionMakerOptions {
  ourself: LocalPeer;
  peers: Peers;
  /** Our listening port: targets without a port, and inbound connections' peers, use it. */
  port: number;
  discovery: boolean;
  clock: Clock;
  random?: () => number;
  logger: Logger;
  /** Dial, handshake and register; resolves with the registered connection. */
  dial(address: string, opts: DialOptions): Promise<MeshConnection>;
  /** Called with the direct target list whenever it changes. */
  persist?(targets: string[]): Promise<void>;
  discoveryDeferMs?: number;
}

interface Target {
  state: TargetState;
  backoff: Backoff;
  lastError?: Error;
  peer?: PeerName;
  conn?: MeshConnection;
}

interface DirectPeer {
  host: string;
  port?: number;
}

/** "host", "host:port", "[v6]", "[v6]:port" → host and optional port. */
export function parsePeerAddress(input: string): DirectPeer {
  const text = input.trim();
  let host: string;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2];
  } else if ((text.match(/:/g) ?? []).length > 1) {
    host = text; // bare IPv6 literal
  } else {
    const i = text.lastIndexOf(':');
    host = i < 0 ? text : text.slice(0, i);
    portText = i < 0 ? undefined : text.slice(i + 1);
  }
  if (host === '' || /\s/.test(host)) throw new Error(`invalid peer address: ${JSON.stringify(input)}`);
  if (portText === undefined) return { host };
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw new Error(`invalid port in peer address: ${JSON.stringify(input)}`);
  return { host, port };
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function splitHostPort(address: string): { host: string; port: number } | undefined {
  try {
    const p = parsePeerAddress(address);
    return p.port === undefined ? undefined : { host: p.host, port: p.port };
  } catch {
    return undefined;
  }
}

export class ConnectionMaker {
  private readonly direct = new Map<string, DirectPeer>();
  private readonly targets = new Map<string, Target>();
  private readonly connTargets = new Map<MeshConnection, string>();
  private readonly random: () => number;
  private readonly log: Logger;
  private timer: TimerHandle | undefined;
  private running = false;
  private persisting: Promise<void> = Promise.resolve();
  terminationCount = 0;
  /** The mesh port targets default to (settable: a listener on port 0 learns it late). */
  port: number;

  constructor(private readonly opts: ConnectionMakerOptions) {
    this.port = opts.port;
    this.random = opts.random ?? Math.random;
    this.log = opts.logger;
  }

  start(initial: string[] = []): Error[] {
    this.running = true;
    const errors = this.addDirect(initial, false);
    // Persisted from the start, so a resumed router has the command-line peers too.
    this.persist();
    this.refresh();
    return errors;
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** `weave connect [--replace]`: returns the entries that could not be parsed. */
  initiateConnections(peers: string[], replace: boolean): Error[] {
    const errors = this.addDirect(peers, replace);
    this.persist();
    this.refresh();
    return errors;
  }

  /** `weave forget`: stop dialling these (live connections stay). */
  forgetConnections(peers: string[]): void {
    for (const p of peers) this.direct.delete(p.trim());
    this.persist();
    this.refresh();
  }

  /** Direct targets as given (Weave's `Targets`). */
  directTargets(): string[] {
    return [...this.direct.keys()].sort();
  }

  targetStatuses(): TargetStatus[] {
    const directAddrs = new Set([...this.direct.values()].map((d) => joinHostPort(d.host, d.port ?? this.port)));
    return [...this.targets]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([address, t]) => ({
        address,
        state: t.state,
        ...(t.lastError ? { lastError: t.lastError.message } : {}),
        tryAfter: t.backoff.tryAfter,
        direct: directAddrs.has(address),
        ...(t.peer ? { peer: t.peer } : {}),
      }));
  }

  /** Targets as rows of `weave status connections` (connected ones appear as connections). */
  connectionStatuses(): TargetConnectionStatus[] {
    const rows: TargetConnectionStatus[] = [];
    for (const s of this.targetStatuses()) {
      const until = s.tryAfter === Infinity ? 'never' : new Date(s.tryAfter).toISOString();
      if (s.state === 'waiting') {
        if (s.lastError === undefined) rows.push({ address: s.address, outbound: true, state: 'waiting', info: `until: ${until}` });
        else rows.push({ address: s.address, outbound: true, state: 'failed', info: `${s.lastError}, retry: ${until}` });
      } else if (s.state === 'attempting') {
        if (s.lastError === undefined) rows.push({ address: s.address, outbound: true, state: 'connecting', info: '' });
        else rows.push({ address: s.address, outbound: true, state: 'retrying', info: s.lastError });
      }
    }
    return rows;
  }

  /** A registered connection of ours went away. */
  connectionTerminated(conn: MeshConnection, err?: Error): void {
    if (!(err && isNeverRetried(err))) this.terminationCount++;
    const address = this.connTargets.get(conn);
    this.connTargets.delete(conn);
    const t = address === undefined ? undefined : this.targets.get(address);
    if (t && t.conn === conn) {
      t.state = 'waiting';
      t.conn = undefined;
      t.lastError = err ?? new Error('connection closed');
      if (isNeverRetried(err)) t.backoff.never();
      else t.backoff.connectionEnded();
    }
    this.refresh();
  }

  /** Re-evaluate targets now (topology or connections changed) and dial what is due. */
  refresh(): void {
    if (!this.running) return;
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const wait = this.checkAndDial();
    if (wait !== Infinity) {
      this.timer = this.opts.clock.setTimeout(() => {
        this.timer = undefined;
        this.refresh();
      }, wait);
    }
  }

  private addDirect(peers: string[], replace: boolean): Error[] {
    const errors: Error[] = [];
    const parsed = new Map<string, DirectPeer>();
    for (const p of peers) {
      try {
        parsed.set(p.trim(), parsePeerAddress(p));
      } catch (err) {
        errors.push(err as Error);
      }
    }
    if (replace) this.direct.clear();
    for (const [k, v] of parsed) this.direct.set(k, v);
    return errors;
  }

  /** Writes are chained: two overlapping atomic writes of one file could interleave. */
  private persist(): void {
    const persist = this.opts.persist;
    if (!persist) return;
    const targets = this.directTargets();
    this.persisting = this.persisting
      .then(() => persist(targets))
      .catch((err: unknown) => {
        this.log.warn('could not persist targets', { error: String(err) });
      });
  }

  /** Resolves when every requested write of the targets has finished. */
  flushed(): Promise<void> {
    return this.persisting;
  }

  private checkAndDial(): number {
    const { ourself, clock } = this.opts;
    const now = clock.now();
    const connectedPeers = new Set<PeerName>();
    const connectedAddrs = new Set<string>();
    const inboundIps = new Set<string>();
    for (const conn of ourself.liveConnections()) {
      connectedPeers.add(conn.remote.name);
      connectedAddrs.add(conn.remoteAddr);
      if (!conn.outbound) {
        const hp = splitHostPort(conn.remoteAddr);
        if (hp) inboundIps.add(hp.host);
      }
    }
    const valid = new Set<string>();
    const direct = new Set<string>();
    const addTarget = (address: string, peer?: PeerName, deferMs?: number): void => {
      if (connectedAddrs.has(address)) return;
      valid.add(address);
      let t = this.targets.get(address);
      if (!t) {
        t = { state: 'waiting', backoff: new Backoff(clock, this.random) };
        if (deferMs !== undefined) t.backoff.tryIn(deferMs);
        this.targets.set(address, t);
      }
      if (peer !== undefined) t.peer = peer;
    };

    for (const d of this.direct.values()) {
      const address = joinHostPort(d.host, d.port ?? this.port);
      direct.add(address);
      // Without a port the user named a host, and that host already reached us.
      if (d.port === undefined && inboundIps.has(d.host)) continue;
      const known = this.targets.get(address)?.peer;
      if (known !== undefined && connectedPeers.has(known)) continue;
      addTarget(address);
    }

    if (this.opts.discovery) {
      const deferMs = this.opts.discoveryDeferMs ?? DEFAULT_DISCOVERY_DEFER_MS;
      for (const peer of this.opts.peers.all()) {
        if (peer === ourself) continue;
        for (const [other, c] of peer.connections) {
          if (other === ourself.name || connectedPeers.has(other)) continue;
          let address: string | undefined = c.remoteTcpAddr;
          if (!c.outbound) {
            // The far end of an inbound connection is an ephemeral port: use the mesh port.
            const hp = splitHostPort(c.remoteTcpAddr);
            address = hp ? joinHostPort(hp.host, this.port) : undefined;
          }
          if (address === undefined) continue;
          addTarget(address, other, other < ourself.name ? deferMs : undefined);
        }
      }
    }

    let wait = Infinity;
    for (const [address, t] of this.targets) {
      if (t.state !== 'waiting' && t.state !== 'suspended') continue;
      if (!valid.has(address)) {
        if (direct.has(address)) t.state = 'suspended';
        else this.targets.delete(address);
        continue;
      }
      if (t.backoff.tryAfter <= now) {
        t.state = 'attempting';
        this.attempt(address, t, direct.has(address));
      } else {
        t.state = 'waiting';
        wait = Math.min(wait, t.backoff.tryAfter - now);
      }
    }
    return wait;
  }

  private attempt(address: string, t: Target, isDirect: boolean): void {
    this.log.debug('attempting connection', { address, direct: isDirect });
    this.opts.dial(address, { acceptNewPeer: isDirect }).then(
      (conn) => {
        if (this.targets.get(address) !== t) return;
        t.state = 'connected';
        t.conn = conn;
        t.peer = conn.remote.name;
        this.connTargets.set(conn, address);
      },
      (err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err));
        if (this.targets.get(address) !== t) return;
        t.state = 'waiting';
        t.lastError = error;
        if (error instanceof DuplicateConnectionError) t.peer = error.peer;
        if (isNeverRetried(error)) t.backoff.never();
        else t.backoff.retry();
        const level = error instanceof DuplicateConnectionError ? 'debug' : 'info';
        this.log.log(level, 'connection attempt failed', { address, error: error.message });
        this.refresh();
      },
    );
  }
}
