// FastdpIpsec on this host's kernel: XFRM SAs and policies over NETLINK_XFRM and the
// `weave-ipsec` nf_tables table, both through our own netlink code (no ip/nft spawned).
import type { Logger } from 'winston';
import { FastPathUnavailableError } from '../fastpath/contract.ts';
import { NftablesClient } from '../netlink/nftables/client.ts';
import { XfrmClient } from '../netlink/xfrm/client.ts';
import { IPPROTO_UDP, XFRM_POLICY_OUT } from '../netlink/xfrm/constants.ts';
import type { SaSpec } from '../netlink/xfrm/messages.ts';
import { ESP_AEAD, ESP_ICV_BITS, ESP_KEY_BYTES, ESP_REPLAY_WINDOW, FASTDP_UDP_PORT, IPSEC_MARK, IPSEC_REQID } from './constants.ts';
import type { FastdpIpsec, IpsecEndpoints } from './contract.ts';
import { probeEsp } from './esp-probe.ts';
import { ipsecRuleset, ipsecRulesetRemoval } from './ipsec-ruleset.ts';
import type { IpsecPeerRule } from './ipsec-ruleset.ts';

export interface KernelIpsecOptions {
  logger: Logger;
  netns?: string;
  /** UDP port of the VXLAN traffic (6784). */
  port?: number;
}

export class KernelIpsec implements FastdpIpsec {
  private readonly log: Logger;
  private readonly port: number;
  private xfrm: XfrmClient | undefined;
  private nft: NftablesClient | undefined;
  /** Rules per inbound SA (one per connection), so a newer connection's survive an older's teardown. */
  private readonly rules = new Map<number, IpsecPeerRule>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: KernelIpsecOptions) {
    this.log = opts.logger;
    this.port = opts.port ?? FASTDP_UDP_PORT;
  }

  /** Runs kernel changes one at a time (rule sets are rebuilt whole). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async start(): Promise<void> {
    const sock = this.opts.netns !== undefined ? { netns: this.opts.netns } : {};
    try {
      this.xfrm = XfrmClient.open(sock);
    } catch (err) {
      throw new FastPathUnavailableError('kernel has no IPsec (xfrm netlink)', { cause: err });
    }
    const esp = await probeEsp(this.xfrm);
    if (!esp.ok) {
      this.log.debug(`IPsec probe: ${esp.detail}`);
      this.close();
      throw new FastPathUnavailableError(esp.reason);
    }
    this.nft = NftablesClient.open(sock);
    const left = await this.xfrm.flushOurs(IPSEC_MARK, IPSEC_REQID);
    if (left.policies + left.sas > 0) this.log.info(`removed IPsec state an earlier run left: ${left.policies} policies, ${left.sas} SAs`);
    await this.nft.commit(ipsecRuleset([]), 'install IPsec rules');
  }

  async stop(): Promise<void> {
    await this.serial(async () => {
      this.rules.clear();
      try {
        await this.nft?.commit(ipsecRulesetRemoval(), 'remove IPsec rules');
        await this.xfrm?.flushOurs(IPSEC_MARK, IPSEC_REQID);
      } finally {
        this.close();
      }
    });
  }

  private close(): void {
    this.xfrm?.close();
    this.nft?.close();
    this.xfrm = undefined;
    this.nft = undefined;
  }

  private sa(src: string, dst: string, spi: number, key: Buffer): SaSpec {
    if (key.length !== ESP_KEY_BYTES) throw new Error(`ESP key must be ${ESP_KEY_BYTES} bytes, got ${key.length}`);
    return { src, dst, spi, reqid: IPSEC_REQID, aead: { name: ESP_AEAD, key, icvBits: ESP_ICV_BITS }, replayWindow: ESP_REPLAY_WINDOW, esn: true };
  }

  private policyId(ends: IpsecEndpoints): { selector: { src: string; dst: string; srcPrefix: number; dstPrefix: number; proto: number; dstPort: number }; dir: number; mark: { value: number; mask: number } } {
    return {
      selector: { src: ends.local, dst: ends.remote, srcPrefix: 32, dstPrefix: 32, proto: IPPROTO_UDP, dstPort: this.port },
      dir: XFRM_POLICY_OUT,
      mark: { ...IPSEC_MARK },
    };
  }

  private async commitRules(): Promise<void> {
    await this.nft!.commit(ipsecRuleset([...this.rules.values()]), 'update IPsec rules');
  }

  initInbound(ends: IpsecEndpoints, key: Buffer): Promise<number> {
    return this.serial(async () => {
      const xfrm = this.require();
      const spi = await xfrm.allocSpi({ src: ends.remote, dst: ends.local, reqid: IPSEC_REQID });
      try {
        // UPDSA: the allocated SPI already names a larval SA
        await xfrm.updateSa(this.sa(ends.remote, ends.local, spi, key));
        this.rules.set(spi, { local: ends.local, remote: ends.remote, port: this.port });
        await this.commitRules();
      } catch (err) {
        this.rules.delete(spi);
        await xfrm.deleteSa({ src: ends.remote, dst: ends.local, spi }).catch(() => false);
        throw err;
      }
      this.log.info(`IPsec inbound SA ${ends.remote} -> ${ends.local} spi 0x${spi.toString(16)}`);
      return spi;
    });
  }

  initOutbound(ends: IpsecEndpoints, spi: number, key: Buffer): Promise<void> {
    return this.serial(async () => {
      const xfrm = this.require();
      await xfrm.addSa(this.sa(ends.local, ends.remote, spi, key));
      try {
        await xfrm.updatePolicy({ ...this.policyId(ends), templates: [{ src: ends.local, dst: ends.remote, spi, reqid: IPSEC_REQID }] });
      } catch (err) {
        await xfrm.deleteSa({ src: ends.local, dst: ends.remote, spi }).catch(() => false);
        throw err;
      }
      this.log.info(`IPsec outbound SA ${ends.local} -> ${ends.remote} spi 0x${spi.toString(16)}`);
    });
  }

  destroy(ends: IpsecEndpoints, spis: { inbound?: number; outbound?: number }): Promise<void> {
    return this.serial(async () => {
      const xfrm = this.xfrm;
      if (!xfrm) return;
      if (spis.outbound !== undefined) {
        // a newer connection to the peer may have replaced the policy: leave that one alone
        const id = this.policyId(ends);
        const current = (await xfrm.listPolicies()).find(
          (p) => p.mark?.value === IPSEC_MARK.value && p.dir === XFRM_POLICY_OUT && p.selector.src === ends.local && p.selector.dst === ends.remote,
        );
        if (current?.templates[0]?.spi === spis.outbound) await xfrm.deletePolicy(id);
        await xfrm.deleteSa({ src: ends.local, dst: ends.remote, spi: spis.outbound });
      }
      if (spis.inbound !== undefined) {
        await xfrm.deleteSa({ src: ends.remote, dst: ends.local, spi: spis.inbound });
        if (this.rules.delete(spis.inbound)) await this.commitRules();
      }
    });
  }

  private require(): XfrmClient {
    if (!this.xfrm || !this.nft) throw new Error('IPsec is not started');
    return this.xfrm;
  }
}
