// What `weave expose` needs from the rest of the daemon, and what it hands to the CLI. The expose
// service sees DNS and the plugin only through these, so either can be absent or replaced in tests.

/** DnsService's registration of names that are not containers' (weaveDNS off: none). */
export interface ExposeNames {
  /** The absolute name `name` stands for; throws for one that cannot be registered. */
  qualify(name: string): string;
  add(containerId: string, ip: string, name: string): unknown;
  remove(match: { containerId?: string; ip?: string }): unknown;
}

/** The plugin, which owns the bridge's isolation policy: asked to re-apply it once a host port
 *  came or went. */
export interface IsolationRefresher {
  refreshIsolation(): Promise<void>;
}

/** One address the host holds on a weave network. */
export interface ExposedAddress {
  /** The network's subnet, e.g. "10.32.0.0/16". */
  cidr: string;
  /** The host's address with the subnet's prefix, e.g. "10.32.0.5/16". */
  address: string;
  /** The host end carrying it (weavex<hex>) and its bridge end (vethwex<hex>). */
  interface: string;
  port: string;
  /** The weaveDNS name it is registered under, if any. */
  name?: string;
}

/** `GET /expose`, and the expose service's part of `weave status`. */
export interface ExposeStatus {
  exposed: ExposedAddress[];
}

/** `POST /expose`. */
export interface ExposeReply {
  exposed: ExposedAddress[];
}

/** `DELETE /expose`. */
export interface HideReply {
  hidden: ExposedAddress[];
}

/** What the control API drives. */
export interface ExposeControl {
  expose(targets: string[], name?: string): Promise<ExposedAddress[]>;
  hide(targets: string[]): Promise<ExposedAddress[]>;
  list(): ExposedAddress[];
}
