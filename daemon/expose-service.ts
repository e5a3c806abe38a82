// `weave expose` / `weave hide`: the host takes an address on a weave network, so host processes
// and the network's containers (on any host) reach each other. Unlike Weave, the address is not
// put on the bridge (frames to the bridge's own address skip its isolation, so every network
// could reach it) but on a host port of its own that the network's isolation covers; and no NAT
// rules are added: the host's own routing and forwarding then apply.
import type { Express } from 'express';
import { AsyncMutex } from '../common/async-mutex.ts';
import type { Logger } from '../common/logger.ts';
import type { Datapath } from '../datapath/contract.ts';
import type { Ipam } from '../ipam/contract.ts';
import type { ServicePart } from './daemon.ts';
import { mountExposeApi } from './expose-api.ts';
import type { ExposedAddress, ExposeNames, ExposeStatus, IsolationRefresher } from './expose-contract.ts';
import { ExposeRequestError } from './expose-error.ts';
import { hostPortNames } from './expose-names.ts';
import { ExposeState, type ExposeRecord } from './expose-state.ts';
import { parseExposeTarget, type ExposeTarget } from './expose-target.ts';

/** The container id exposed names are registered under, as Weave's script used for its IPAM. */
export const EXPOSE_CONTAINER = 'weave:expose';

export interface ExposeServiceOptions {
  dataDir: string;
  datapath: Datapath;
  ipam: Ipam;
  /** The plugin, which folds host ports into the bridge's isolation. */
  isolation: IsolationRefresher;
  /** weaveDNS, when it runs on this host. */
  names?: ExposeNames;
  bridgeName: string;
  mtu: number;
  /** The default network's subnet: what a bare `weave expose` means. */
  defaultSubnet: string;
  /** The name an address is registered under without `-h` (the host's hostname). */
  hostname: string;
  logger: Logger;
}

export class ExposeService implements ServicePart {
  readonly name = 'expose';
  private readonly log: Logger;
  private readonly state: ExposeState;
  private readonly mutex = new AsyncMutex();
  private records: ExposeRecord[] = [];

  constructor(private readonly opts: ExposeServiceOptions) {
    this.log = opts.logger;
    this.state = new ExposeState(opts.dataDir);
  }

  /** Puts every recorded address back (its link may be gone after a reboot). A record whose
   *  address IPAM no longer holds for us, and cannot hold again, is dropped: keeping it would
   *  put a second host on someone else's address. */
  async start(): Promise<void> {
    await this.mutex.run(async () => {
      this.records = await this.state.load();
      const kept: ExposeRecord[] = [];
      for (const r of this.records) {
        if (await this.stillOurs(r)) kept.push(r);
        else await this.opts.datapath.removeHostPort(hostPortNames(r.subnet).port).catch(() => false);
      }
      if (kept.length !== this.records.length) await this.state.save(kept);
      this.records = kept;
      for (const r of kept) {
        try {
          await this.applyLink(r);
        } catch (err) {
          // one broken link must not keep the daemon (and every container's network) down
          this.log.error('cannot put an exposed address back', { address: r.address, error: errorText(err) });
        }
        this.registerName(r);
      }
      // a no-op while the plugin has not loaded its records: its start-up reconcile applies it
      await this.opts.isolation.refreshIsolation();
      if (kept.length > 0) this.log.info('exposed addresses restored', { addresses: kept.map((r) => r.address) });
    });
  }

  async stop(): Promise<void> {
    // the links stay, like containers' links: the host keeps its address while the daemon restarts
    await this.mutex.idle();
  }

  /** Exposes the host on each target's network (the default network when none); exposing one
   *  already exposed returns its address. */
  async expose(targets: string[], name?: string): Promise<ExposedAddress[]> {
    const parsed = this.parseTargets(targets);
    if (name !== undefined) this.checkName(name);
    return await this.mutex.run(async () => {
      const out: ExposedAddress[] = [];
      for (const t of parsed) out.push(this.view(await this.exposeOne(t, name)));
      return out;
    });
  }

  /** Takes the host off each target's network (the default network when none); returns what went. */
  async hide(targets: string[]): Promise<ExposedAddress[]> {
    const parsed = this.parseTargets(targets);
    return await this.mutex.run(async () => {
      const out: ExposedAddress[] = [];
      for (const t of parsed) {
        const r = this.records.find((x) => x.subnet === t.subnet);
        if (r === undefined) continue;
        if (t.address !== undefined && t.address !== bareIp(r.address)) {
          throw new ExposeRequestError(`${t.address} is not exposed; this host's address on ${t.subnet} is ${r.address}`, 404);
        }
        await this.hideOne(r);
        out.push(this.view(r));
      }
      return out;
    });
  }

  list(): ExposedAddress[] {
    return this.records.map((r) => this.view(r));
  }

  /** For the plugin's isolation policy. */
  hostPorts(): { subnet: string; port: string }[] {
    return this.records.map((r) => ({ subnet: r.subnet, port: hostPortNames(r.subnet).port }));
  }

  /** For the plugin's orphan sweep: these are held though no Docker endpoint uses them. */
  reservedAddresses(): string[] {
    return this.records.map((r) => r.address);
  }

  status(): ExposeStatus {
    return { exposed: this.list() };
  }

  routes(app: Express): void {
    mountExposeApi(app, { control: this, logger: this.log });
  }

  private parseTargets(targets: string[]): ExposeTarget[] {
    const parsed = (targets.length === 0 ? ['net:default'] : targets).map((t) => parseExposeTarget(t, this.opts.defaultSubnet));
    const subnets = parsed.map((t) => t.subnet);
    const twice = subnets.find((s, i) => subnets.indexOf(s) !== i);
    if (twice !== undefined) throw new ExposeRequestError(`${twice} is named twice; the host has one address per network`);
    return parsed;
  }

  private checkName(name: string): void {
    if (this.opts.names === undefined) throw new ExposeRequestError('weaveDNS is off on this host (--no-dns), so -h has nowhere to register the name');
    try {
      this.opts.names.qualify(name);
    } catch (err) {
      throw new ExposeRequestError(errorText(err));
    }
  }

  /** `name` undefined: an existing expose keeps its name, a new one gets the hostname. */
  private async exposeOne(t: ExposeTarget, name: string | undefined): Promise<ExposeRecord> {
    const existing = this.records.find((r) => r.subnet === t.subnet);
    if (existing !== undefined) {
      if (t.address !== undefined && t.address !== bareIp(existing.address)) {
        throw new ExposeRequestError(`this host already has ${existing.address} on ${t.subnet}; hide it first`, 409);
      }
      // the same call again repairs what went missing, and moves the name if it changed
      await this.applyLink(existing);
      if (name !== undefined && existing.name !== name) {
        this.unregisterName(existing);
        const renamed = { ...existing, name };
        await this.saveRecords(this.records.map((r) => (r === existing ? renamed : r)));
        this.registerName(renamed);
        return renamed;
      }
      return existing;
    }
    const pool = this.opts.ipam.status().pools.find((p) => p.subnet === t.subnet);
    if (pool === undefined) throw new ExposeRequestError(`no weave network with subnet ${t.subnet} on this host`, 404);
    const address = await this.opts.ipam.requestAddress({ poolId: pool.poolId, ...(t.address !== undefined ? { address: t.address } : {}), options: {} }).catch((err: unknown) => {
      throw new ExposeRequestError(`cannot get an address on ${t.subnet}: ${errorText(err)}`, 409);
    });
    const record: ExposeRecord = { subnet: t.subnet, poolId: pool.poolId, address, name: name ?? this.opts.hostname };
    try {
      // recorded first: a crash from here on leaves a record that start() completes, and an
      // address the plugin's orphan sweep leaves alone
      await this.saveRecords([...this.records, record]);
      // the port is covered by its network's rules before it exists, as a container's is
      await this.opts.isolation.refreshIsolation();
      await this.applyLink(record);
    } catch (err) {
      await this.undo(record);
      throw err;
    }
    this.registerName(record);
    this.log.info('host exposed', { address, subnet: t.subnet, name: record.name });
    return record;
  }

  private async hideOne(r: ExposeRecord): Promise<void> {
    await this.opts.datapath.removeHostPort(hostPortNames(r.subnet).port);
    await this.saveRecords(this.records.filter((x) => x !== r));
    await this.opts.isolation.refreshIsolation();
    await this.opts.ipam.releaseAddress(r.poolId, bareIp(r.address));
    this.unregisterName(r);
    this.log.info('host hidden', { address: r.address, subnet: r.subnet });
  }

  /** After a failed expose: no link, no record, no address. */
  private async undo(record: ExposeRecord): Promise<void> {
    const quietly = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        this.log.warn(`cannot undo a failed expose: ${what}`, { address: record.address, error: errorText(err) });
      }
    };
    await quietly('remove the link', () => this.opts.datapath.removeHostPort(hostPortNames(record.subnet).port));
    if (this.records.includes(record)) await quietly('forget the record', () => this.saveRecords(this.records.filter((r) => r !== record)));
    await quietly('update the isolation rules', () => this.opts.isolation.refreshIsolation());
    await quietly('release the address', () => this.opts.ipam.releaseAddress(record.poolId, bareIp(record.address)));
  }

  private async stillOurs(r: ExposeRecord): Promise<boolean> {
    const pool = this.opts.ipam.status().pools.find((p) => p.poolId === r.poolId);
    if (pool === undefined || pool.subnet !== r.subnet) {
      this.log.warn('dropping an exposed address: its network is gone', { address: r.address, subnet: r.subnet });
      return false;
    }
    const ip = bareIp(r.address);
    if (pool.addresses === undefined || pool.addresses.includes(ip)) return true;
    try {
      // released behind our back (by an older version's orphan sweep, say): take it again
      await this.opts.ipam.requestAddress({ poolId: r.poolId, address: ip, options: {} });
      this.log.warn('claimed an exposed address again that IPAM had released', { address: r.address });
      return true;
    } catch (err) {
      this.log.warn('dropping an exposed address: IPAM gave it to someone else', { address: r.address, error: errorText(err) });
      return false;
    }
  }

  private applyLink(r: ExposeRecord): Promise<void> {
    const { port, hostName } = hostPortNames(r.subnet);
    return this.opts.datapath.ensureHostPort({ bridge: this.opts.bridgeName, port, hostName, mtu: this.opts.mtu, cidr: r.address });
  }

  private async saveRecords(records: ExposeRecord[]): Promise<void> {
    await this.state.save(records);
    this.records = records;
  }

  /** Names are a convenience on top of the address: a name DNS refuses (an odd hostname) or
   *  weaveDNS not running costs the name only, and the log says why. */
  private registerName(r: ExposeRecord): void {
    const names = this.opts.names;
    if (names === undefined || r.name === undefined) return;
    try {
      names.add(EXPOSE_CONTAINER, bareIp(r.address), r.name);
    } catch (err) {
      this.log.warn('cannot register the exposed address in weaveDNS', { address: r.address, name: r.name, error: errorText(err) });
    }
  }

  private unregisterName(r: ExposeRecord): void {
    try {
      this.opts.names?.remove({ containerId: EXPOSE_CONTAINER, ip: bareIp(r.address) });
    } catch (err) {
      this.log.warn('cannot remove the exposed address from weaveDNS', { address: r.address, error: errorText(err) });
    }
  }

  private view(r: ExposeRecord): ExposedAddress {
    const { port, hostName } = hostPortNames(r.subnet);
    return { cidr: r.subnet, address: r.address, interface: hostName, port, ...(r.name !== undefined && this.opts.names !== undefined ? { name: r.name } : {}) };
  }
}

function bareIp(cidr: string): string {
  return cidr.split('/')[0]!;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
