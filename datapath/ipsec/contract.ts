// Encrypted fastdp as the router sees it: per-direction ESP SAs for one connection's VXLAN
// traffic (weave-reference §5.7). The router derives the keys and exchanges SPIs and nonces;
// an implementation programs the kernel (kernel-ipsec.ts: XFRM + nf_tables), the same for every
// fast-path backend, since both send their VXLAN through the host's IP stack on one UDP port.

export interface IpsecEndpoints {
  /** Our underlay address and the peer's (IPv4). */
  local: string;
  remote: string;
}

export interface FastdpIpsec {
  /** Removes what an earlier run left (our policies and SAs, our rules) and starts clean.
   *  Rejects with FastPathUnavailableError saying why when the kernel cannot do ESP. */
  start(): Promise<void>;
  /** Removes every SA, policy and rule it created. */
  stop(): Promise<void>;
  /** Inbound direction: a kernel-allocated SPI, the SA with `key`, and from now on VXLAN to the
   *  peer is marked for the outbound policy (dropped until it exists: never in clear) and VXLAN
   *  from it is accepted only decrypted. Returns the SPI to tell the peer. */
  initInbound(ends: IpsecEndpoints, key: Buffer): Promise<number>;
  /** Outbound direction: the SA with the peer's SPI and `key`, and the policy that sends marked
   *  VXLAN to the peer through it (replacing an older connection's policy: a rekey). */
  initOutbound(ends: IpsecEndpoints, spi: number, key: Buffer): Promise<void>;
  /** Removes one connection's SAs (and its policy and rules unless a newer connection to the
   *  same peer replaced them). */
  destroy(ends: IpsecEndpoints, spis: { inbound?: number; outbound?: number }): Promise<void>;
}
