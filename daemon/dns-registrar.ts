// Keeps weaveDNS in step with Docker: every container on a weave network is registered under its
// name, its network aliases and its hostname (each as NAME.<domain>, so NAME alone resolves too)
// with its address on that network, and tombstoned when it stops or leaves the network. Also
// decides what each DNS client may see: the names on the weave networks the asking container is
// attached to, as Docker's own resolver scopes names to networks.
import type { Logger } from '../common/logger.ts';
import { formatIpv4 } from '../common/ipv4.ts';
import { containsAddress, parseCidr, type Cidr } from '../ipam/cidr.ts';
import type { Entry } from '../dns/entry.ts';

/** One network attachment of a container, as the registrar needs it. */
export interface AttachmentView {
  networkName: string;
  ipv4: string;
  aliases: string[];
  subnets: string[];
}

export interface ContainerView {
  id: string;
  name: string;
  hostname: string;
  /** Attachments to weave networks only. */
  weave: AttachmentView[];
}

/** Where containers come from (daemon/container-watcher.ts over the Engine API). */
export interface ContainerDirectory {
  /** The container that has `ip` on any of its networks (docker_gwbridge too: Docker's resolver
   *  sends our queries from the container's default route). */
  byIp(ip: string): ContainerView | undefined;
  /** Asks Docker now: a query can arrive before the container's start event was processed. */
  refreshIp(ip: string): Promise<ContainerView | undefined>;
}

/** The part of DnsService the registrar drives. */
export interface DnsRegistry {
  qualify(name: string): string;
  add(containerId: string, ip: string, name: string): Entry;
  remove(match: { containerId?: string; ip?: string; name?: string }): Entry[];
  entriesOf(containerId: string): Entry[];
}

type Filter = (entry: Entry) => boolean;
const SEE_NOTHING: Filter = () => false;

export class DnsRegistrar {
  constructor(
    private readonly opts: {
      dns: () => DnsRegistry;
      containers: ContainerDirectory;
      /** Our own listen address: a query from it (the host) sees every name. */
      ownAddress: string;
      logger: Logger;
    },
  ) {}

  /** The (name, address) pairs a container should have: container name, aliases, hostname, on
   *  each weave network it is attached to. */
  desired(c: ContainerView): { fqdn: string; ip: string }[] {
    const dns = this.opts.dns();
    const out = new Map<string, { fqdn: string; ip: string }>();
    for (const a of c.weave) {
      for (const name of [c.name, c.hostname, ...a.aliases]) {
        if (!name) continue;
        let fqdn: string;
        try {
          fqdn = dns.qualify(name);
        } catch (err) {
          this.opts.logger.debug('not registering a name DNS cannot hold', { container: c.id, name, reason: (err as Error).message });
          continue;
        }
        out.set(`${fqdn} ${a.ipv4}`, { fqdn, ip: a.ipv4 });
      }
    }
    return [...out.values()];
  }

  /** A container appeared or changed: add what is missing, tombstone what is no longer true. */
  upsert(c: ContainerView): void {
    const dns = this.opts.dns();
    const want = this.desired(c);
    const have = dns.entriesOf(c.id);
    const key = (fqdn: string, ip: string): string => `${fqdn.toLowerCase()} ${ip}`;
    const wanted = new Set(want.map((w) => key(w.fqdn, w.ip)));
    for (const e of have) {
      const ip = formatIpv4(e.addr);
      if (!wanted.has(key(e.hostname, ip))) dns.remove({ containerId: c.id, ip, name: e.hostname });
    }
    const present = new Set(have.map((e) => key(e.hostname, formatIpv4(e.addr))));
    for (const w of want) if (!present.has(key(w.fqdn, w.ip))) dns.add(c.id, w.ip, w.fqdn);
  }

  /** A container stopped or went away. */
  remove(id: string): void {
    this.opts.dns().remove({ containerId: id });
  }

  /** What a DNS client at `clientIp` may see. */
  async scope(clientIp: string): Promise<Filter | undefined> {
    if (clientIp === this.opts.ownAddress || clientIp.startsWith('127.')) return undefined;
    const c = this.opts.containers.byIp(clientIp) ?? (await this.opts.containers.refreshIp(clientIp).catch(() => undefined));
    if (!c) return SEE_NOTHING;
    const subnets: Cidr[] = [];
    for (const a of c.weave) for (const s of a.subnets) subnets.push(parseCidr(s));
    if (subnets.length === 0) return SEE_NOTHING;
    return (e) => subnets.some((s) => containsAddress(s, e.addr));
  }
}

