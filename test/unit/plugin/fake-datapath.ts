// In-memory Datapath for plugin tests: keeps links in a map, records every call, and can be told
// to fail or hang, so the plugin's handling of datapath trouble can be exercised without root.

import type { BridgeSpec, Datapath, HostPortSpec, IsolatedNetwork, LinkInfo, VethInfo, VethSpec } from '../../../datapath/contract.ts';

export interface DatapathCall {
  method: string;
  args: unknown[];
}

type Method = 'createVeth' | 'deleteLink' | 'getLink' | 'listLinks' | 'applyIsolation' | 'ensureHostPort' | 'removeHostPort';

export class FakeDatapath implements Datapath {
  readonly links = new Map<string, LinkInfo>();
  /** link name -> its addresses (CIDR) */
  readonly addresses = new Map<string, Set<string>>();
  readonly calls: DatapathCall[] = [];
  /** host port (bridge end) -> the end in the host's namespace */
  readonly hostPorts = new Map<string, string>();
  /** The policy of the last applyIsolation, as the kernel would hold it. */
  isolation: IsolatedNetwork[] = [];
  private nextIndex = 10;
  private macCounter = 1;
  private readonly failures = new Map<Method, Error>();
  private readonly hangs = new Map<Method, Promise<void>>();

  constructor(bridge = 'weave') {
    this.addLink({ name: bridge, kind: 'bridge' });
    this.addLink({ name: 'eth0' });
  }

  /** Make every call of `method` reject with `err` until cleared. */
  failOn(method: Method, err: Error): void {
    this.failures.set(method, err);
  }

  /** Make calls of `method` wait until the returned function is called. */
  hangOn(method: Method): () => void {
    let release!: () => void;
    this.hangs.set(method, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.hangs.delete(method);
      release();
    };
  }

  clearFaults(): void {
    this.failures.clear();
    this.hangs.clear();
  }

  addLink(partial: Partial<LinkInfo> & { name: string }): LinkInfo {
    const link: LinkInfo = { index: this.nextIndex++, mtu: 1500, mac: this.nextMac(), up: true, ...partial };
    this.links.set(link.name, link);
    return link;
  }

  callsOf(method: string): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  async start(): Promise<void> {}

  async applyIsolation(networks: IsolatedNetwork[]): Promise<void> {
    await this.enter('applyIsolation', [networks]);
    this.isolation = structuredClone(networks);
  }

  /** The network (first subnet) whose isolation rules cover `port`, if any. */
  isolatedAs(port: string): string | undefined {
    return this.isolation.find((n) => n.ports.includes(port))?.subnets[0];
  }
  async stop(): Promise<void> {}

  async ensureBridge(spec: BridgeSpec): Promise<LinkInfo> {
    this.calls.push({ method: 'ensureBridge', args: [spec] });
    return this.links.get(spec.name) ?? this.addLink({ name: spec.name, kind: 'bridge', mtu: spec.mtu });
  }

  async createVeth(spec: VethSpec): Promise<VethInfo> {
    await this.enter('createVeth', [spec]);
    const bridge = this.links.get(spec.bridge);
    if (bridge === undefined) throw Object.assign(new Error(`bridge ${spec.bridge} not found`), { code: 'ENODEV' });
    if (this.links.has(spec.hostName) || this.links.has(spec.guestName)) throw Object.assign(new Error('link exists'), { code: 'EEXIST' });
    const host = this.addLink({ name: spec.hostName, kind: 'veth', mtu: spec.mtu, masterIndex: bridge.index });
    const guest = this.addLink({ name: spec.guestName, kind: 'veth', mtu: spec.mtu, up: false, ...(spec.guestMac ? { mac: spec.guestMac } : {}) });
    return { host, guest };
  }

  async ensureHostPort(spec: HostPortSpec): Promise<void> {
    await this.enter('ensureHostPort', [spec]);
    const bridge = this.links.get(spec.bridge);
    if (bridge === undefined) throw Object.assign(new Error(`bridge ${spec.bridge} not found`), { code: 'ENODEV' });
    if (!this.links.has(spec.port) || !this.links.has(spec.hostName) || this.hostPorts.get(spec.port) !== spec.hostName) {
      this.links.delete(spec.port);
      this.links.delete(spec.hostName);
      this.addLink({ name: spec.port, kind: 'veth', mtu: spec.mtu, masterIndex: bridge.index });
      this.addLink({ name: spec.hostName, kind: 'veth', mtu: spec.mtu });
      this.hostPorts.set(spec.port, spec.hostName);
    }
    for (const name of [spec.port, spec.hostName]) this.links.set(name, { ...this.links.get(name)!, up: true, mtu: spec.mtu });
    this.addresses.set(spec.hostName, new Set([spec.cidr]));
  }

  async removeHostPort(port: string): Promise<boolean> {
    await this.enter('removeHostPort', [port]);
    const host = this.hostPorts.get(port);
    this.hostPorts.delete(port);
    if (host !== undefined) {
      this.links.delete(host);
      this.addresses.delete(host);
    }
    return this.links.delete(port);
  }

  async deleteLink(name: string): Promise<boolean> {
    await this.enter('deleteLink', [name]);
    const existed = this.links.delete(name);
    // deleting one end of a veth pair deletes its peer, as in the kernel
    const peer = name.startsWith('vethwl') ? 'vethwg' + name.slice(6) : name.startsWith('vethwg') ? 'vethwl' + name.slice(6) : undefined;
    if (existed && peer !== undefined) this.links.delete(peer);
    return existed;
  }

  async getLink(name: string): Promise<LinkInfo | undefined> {
    await this.enter('getLink', [name]);
    return this.links.get(name);
  }

  async listLinks(): Promise<LinkInfo[]> {
    await this.enter('listLinks', []);
    return [...this.links.values()];
  }

  private async enter(method: Method, args: unknown[]): Promise<void> {
    this.calls.push({ method, args });
    const hang = this.hangs.get(method);
    if (hang !== undefined) await hang;
    const failure = this.failures.get(method);
    if (failure !== undefined) throw failure;
  }

  private nextMac(): string {
    const n = this.macCounter++;
    return `02:00:00:00:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
  }

  async ensureAddress(link: string, cidr: string): Promise<void> {
    this.calls.push({ method: 'ensureAddress', args: [link, cidr] });
    if (!this.links.has(link)) throw new Error(`no such device ${link}`);
    const set = this.addresses.get(link) ?? new Set<string>();
    set.add(cidr);
    this.addresses.set(link, set);
  }

  async removeAddress(link: string, cidr: string): Promise<boolean> {
    this.calls.push({ method: 'removeAddress', args: [link, cidr] });
    return this.addresses.get(link)?.delete(cidr) ?? false;
  }
}
