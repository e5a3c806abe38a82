// The contract between the kernel-facing datapath and everything above it (plugin, daemon,
// later the router). Product code outside datapath/ depends on these types only, so a test or
// another platform can supply its own implementation.

export interface LinkInfo {
  index: number;
  name: string;
  /** IFLA_INFO_KIND ("bridge", "veth", "vxlan", ...); undefined for plain devices (lo, eth0). */
  kind?: string;
  mtu: number;
  /** "aa:bb:cc:dd:ee:ff" */
  mac: string;
  /** IFF_UP is set */
  up: boolean;
  /** ifindex of the bridge this link is enslaved to, if any */
  masterIndex?: number;
}

export interface BridgeSpec {
  name: string;
  mtu: number;
  /** Set once when the bridge is created; an existing bridge keeps its MAC. */
  mac?: string;
}

export interface VethSpec {
  /** End that stays in the host namespace, enslaved to `bridge`. */
  hostName: string;
  /** End that Docker moves into the container. */
  guestName: string;
  bridge: string;
  mtu: number;
  /** MAC for the guest end; the kernel picks one when absent. */
  guestMac?: string;
}

export interface VethInfo {
  host: LinkInfo;
  guest: LinkInfo;
}

/** The host's own interface on one weave network: a veth pair whose bridge end is a port like a
 *  container's (so the network's isolation covers it) and whose other end stays in the host's
 *  namespace carrying the address. Not the bridge itself: frames to the bridge's own address
 *  skip the bridge's forward hook, so every network could reach it. */
export interface HostPortSpec {
  bridge: string;
  /** The bridge end. */
  port: string;
  /** The end in the host's namespace. */
  hostName: string;
  mtu: number;
  /** The host's address with the network's prefix, e.g. "10.32.0.5/16"; the only IPv4 address
   *  the host end keeps. */
  cidr: string;
}

/** One weave network as the bridge's isolation sees it on this host. */
export interface IsolatedNetwork {
  /** Its IPv4 subnets; the first names it (the same on every host of the network). */
  subnets: string[];
  /** false: IPv4 multicast never reaches or leaves its containers. */
  multicast: boolean;
  /** Bridge ports of its containers here (host ends of their veths), existing or about to. */
  ports: string[];
}

/** Host-side datapath operations the plugin and daemon need. Every method is idempotent where
 *  the comment says so, because Docker retries and the daemon reconciles after a crash. */
export interface Datapath {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Create the bridge if missing (idempotent), set MTU, bring it up. */
  ensureBridge(spec: BridgeSpec): Promise<LinkInfo>;
  /** Create a veth pair with the host end on the bridge and up. Fails with EEXIST if present. */
  createVeth(spec: VethSpec): Promise<VethInfo>;
  /** Delete a link by name; resolves false if it did not exist (idempotent). */
  deleteLink(name: string): Promise<boolean>;
  getLink(name: string): Promise<LinkInfo | undefined>;
  listLinks(): Promise<LinkInfo[]>;
  /** Put `cidr` (e.g. "169.254.53.53/32") on the link unless it is there already (idempotent). */
  ensureAddress(link: string, cidr: string): Promise<void>;
  /** Remove `cidr` from the link; resolves false if it was not there (idempotent). */
  removeAddress(link: string, cidr: string): Promise<boolean>;
  /** Create what is missing of the host port (a broken pair is made anew), put `cidr` on the host
   *  end and bring both ends up (idempotent). */
  ensureHostPort(spec: HostPortSpec): Promise<void>;
  /** Delete a host port by its bridge end, the other end with it; false if it did not exist. */
  removeHostPort(port: string): Promise<boolean>;
  /** Make the bridge keep networks apart: each port only exchanges frames of its own network,
   *  nothing else. Replaces the previous policy as a whole, atomically (idempotent). Ports not
   *  listed (overlay and capture ports) are not filtered. */
  applyIsolation(networks: IsolatedNetwork[]): Promise<void>;
}
