// weaveDNS on one host: the name table gossiped on channel `nameserver`, the DNS server that
// answers from it and forwards the rest, and the registration API the daemon drives from
// Docker's containers. No Docker and no netlink here: the daemon puts the listen address on the
// bridge and tells us which containers exist (daemon/dns-registrar.ts).
import { StopStack } from '../common/stop-stack.ts';
import type { Logger } from '../common/logger.ts';
import { componentLogger } from '../common/logger.ts';
import type { PeerName } from '../common/peer-identity.ts';
import type { GossipChannelSender, Gossiper } from '../router/mesh/contract.ts';
import { DnsServer, type DnsServerStats, type ScopeHook } from './dns-server.ts';
import { formatIpv4Addr, parseIpv4Addr, type Entry } from './entry.ts';
import { NAMESERVER_CHANNEL } from './gossip-codec.ts';
import { NameserverGossip } from './nameserver-gossip.ts';
import { ResolvConfUpstream } from './upstream.ts';

/** What DNS needs of the running mesh (the daemon builds it from the router). */
export interface DnsMesh {
  ourName: PeerName;
  newGossip(channel: string, gossiper: Gossiper): GossipChannelSender;
  knownPeer(name: PeerName): boolean;
  /** Calls back when a peer leaves the topology; returns the unsubscribe. */
  onPeerRemoved(listener: (peer: PeerName) => void): () => void;
}

export interface DnsServiceOptions {
  /** Absolute, e.g. "weave.local."; names are registered inside it. */
  domain: string;
  address: string;
  port: number;
  ttl: number;
  resolvConf: string;
  /** The mesh once the router runs; undefined with --no-router (names stay on this host). */
  mesh?: () => DnsMesh;
  /** Our peer name when there is no mesh to say it. */
  localName?: PeerName;
  scope?: ScopeHook;
  logger: Logger;
}

export interface DnsRecordView {
  hostname: string;
  address: string;
  containerId: string;
  origin: PeerName;
  version: number;
  tombstone: number;
}

export interface DnsStatus {
  domain: string;
  address: string;
  port: number;
  ttl: number;
  upstream: string[];
  entries: DnsRecordView[];
  stats: DnsServerStats;
}

/** Thrown for names the API refuses (outside our domain, not a host name). */
export class DnsNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnsNameError';
  }
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/i;

export class DnsService {
  readonly name = 'dns';
  private readonly log: Logger;
  private ourName: PeerName | undefined;
  private gossip: NameserverGossip | undefined;
  private server: DnsServer | undefined;
  private upstream: ResolvConfUpstream | undefined;
  private readonly stops: StopStack;

  constructor(private readonly opts: DnsServiceOptions) {
    this.log = componentLogger(opts.logger, 'dns');
    this.stops = new StopStack(this.log);
  }

  get domain(): string {
    return this.opts.domain;
  }

  async start(): Promise<void> {
    const { opts } = this;
    try {
      const mesh = opts.mesh?.();
      const ourName = mesh?.ourName ?? opts.localName;
      if (ourName === undefined) throw new Error('dns: no peer name (neither a mesh nor localName)');
      this.ourName = ourName;
      const gossip = new NameserverGossip({ ourName, knownPeer: (p) => p === ourName || (mesh?.knownPeer(p) ?? false), logger: this.log });
      if (mesh) {
        gossip.setSender(mesh.newGossip(NAMESERVER_CHANNEL, gossip));
        this.stops.push(mesh.onPeerRemoved((peer) => gossip.peerGone(peer)));
      }
      gossip.start();
      this.stops.push(() => gossip.stop());
      this.gossip = gossip;
      const upstream = new ResolvConfUpstream({ path: opts.resolvConf, ownAddresses: [opts.address], ownPort: opts.port, logger: this.log });
      this.upstream = upstream;
      const server = new DnsServer({
        table: gossip,
        upstream,
        address: opts.address,
        port: opts.port,
        domain: opts.domain,
        ttl: opts.ttl,
        ...(opts.scope ? { scope: opts.scope } : {}),
        logger: this.log,
      });
      await server.start();
      this.stops.push(() => server.stop());
      this.server = server;
      const bound = server.address();
      this.log.info('weaveDNS listening', { address: bound.address, port: bound.port, domain: opts.domain });
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.stops.unwind();
    this.server = undefined;
    this.gossip = undefined;
  }

  /** The absolute name a registration of `name` stands for: single labels and names outside our
   *  domain get the domain appended; names already in it stay. Throws DnsNameError. */
  qualify(name: string): string {
    const bare = name.replace(/\.$/, '').toLowerCase();
    const domain = this.opts.domain.replace(/\.$/, '').toLowerCase();
    const labels = bare.split('.');
    if (bare === '' || bare.length > 253 || !labels.every((l) => LABEL.test(l))) throw new DnsNameError(`not a valid host name: ${JSON.stringify(name)}`);
    if (bare === domain) throw new DnsNameError(`${name} is the domain itself, not a name in it`);
    return bare.endsWith(`.${domain}`) ? `${bare}.` : `${bare}.${domain}.`;
  }

  /** Registers `name` -> `ip` for `containerId` (idempotent). */
  add(containerId: string, ip: string, name: string): Entry {
    const gossip = this.requireGossip();
    const fqdn = this.qualify(name);
    const addr = parseIpv4Addr(ip);
    return gossip.addEntry(fqdn, containerId, addr);
  }

  /** Tombstones our entries that match; absent fields match anything. Returns what went. */
  remove(match: { containerId?: string; ip?: string; name?: string }): Entry[] {
    const gossip = this.requireGossip();
    return gossip.deleteEntries({
      ...(match.containerId !== undefined ? { containerId: match.containerId } : {}),
      ...(match.ip !== undefined ? { addr: parseIpv4Addr(match.ip) } : {}),
      ...(match.name !== undefined ? { hostname: this.qualify(match.name) } : {}),
    });
  }

  /** Our live entries of a container (what the registrar diffs against). */
  entriesOf(containerId: string): Entry[] {
    const gossip = this.requireGossip();
    return gossip.entries().filter((e) => e.tombstone === 0 && e.origin === this.ourName && e.containerId === containerId);
  }

  /** Addresses of a name, as the DNS server would answer a client that sees everything. */
  lookup(name: string): string[] {
    const fqdn = this.qualify(name);
    return this.requireGossip()
      .lookup(fqdn)
      .map((e) => formatIpv4Addr(e.addr));
  }

  status(): DnsStatus | { error: string } {
    if (!this.gossip || !this.server) return { error: 'not running' };
    const bound = this.server.address();
    return {
      domain: this.opts.domain,
      address: bound.address,
      port: bound.port,
      ttl: this.opts.ttl,
      upstream: this.upstream?.current().map((s) => `${s.address}:${s.port}`) ?? [],
      entries: this.gossip.entries().map((e) => ({ hostname: e.hostname, address: formatIpv4Addr(e.addr), containerId: e.containerId, origin: e.origin, version: e.version, tombstone: e.tombstone })),
      stats: this.server.stats(),
    };
  }

  private requireGossip(): NameserverGossip {
    if (!this.gossip) throw new Error('dns not started');
    return this.gossip;
  }
}
