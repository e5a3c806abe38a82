/** What the daemon knows about a running container, from the Engine API (container and network
 *  inspect). The coming DNS answers names from it and tells who asks by source address. */
export interface ContainerInfo {
  /** Full container ID. */
  id: string;
  /** Name without Docker's leading '/'. */
  name: string;
  /** Config.Hostname. */
  hostname: string;
  /** Config.Domainname ('' when unset). */
  domainname: string;
  networks: ContainerNetwork[];
}

/** One of a container's network attachments. */
export interface ContainerNetwork {
  networkId: string;
  networkName: string;
  /** The network's driver as Docker names it ('weave', 'weave:latest', 'bridge', ...). */
  driver: string;
  endpointId: string;
  /** Address without prefix length; '' when the endpoint has no IPv4 address. */
  ipv4: string;
  /** --network-alias values (and whatever else Docker adds), minus the short container ID Docker
   *  adds on every user-defined network: that one names nothing a user chose. */
  aliases: string[];
  /** The network's IPAM subnets (CIDR). */
  subnets: string[];
}

/** Told about every change the watcher sees. Called synchronously; a throwing listener is logged
 *  and does not stop the others. */
export interface ContainerListener {
  /** First sight of a running container, or any change to what ContainerInfo holds. */
  onUpsert?(info: ContainerInfo): void;
  /** The container stopped or was removed. */
  onRemove?(id: string): void;
}
