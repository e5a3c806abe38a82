// Which kernel fast path this host uses: the daemon decides, the router only starts what it is
// given (it sees the FastPath contract, never a backend).
import type { Logger } from '../common/logger.ts';
import { FastPathUnavailableError } from '../datapath/fastpath/contract.ts';
import type { FastPath, FastPathChoice, FastPathContext, FastPathOptions } from '../datapath/fastpath/contract.ts';
import { VxlanDeviceFastPath } from '../datapath/fastpath/vxlan-device-fastpath.ts';
import { OdpFastPath } from '../datapath/odp/odp-fastpath.ts';
import type { FastdpIpsec } from '../datapath/ipsec/contract.ts';
import { KernelIpsec } from '../datapath/ipsec/kernel-ipsec.ts';
import type { DaemonConfig } from './config.ts';

type FastPathConfig = Pick<DaemonConfig, 'fastdp' | 'fastdpBackend' | 'password' | 'bridgeName' | 'mtu' | 'port'>;

/** `auto` tries the Open vSwitch datapath (Weave's own fastdp, so Weave routers can use it
 *  with us) and falls back to vxlan devices, which any kernel with vxlan has. */
export function chooseFastPath(config: FastPathConfig, logger: Logger): FastPathChoice {
  if (!config.fastdp) return { disabled: '--no-fastdp' };
  const backend = config.fastdpBackend;
  // With a password the fast path must encrypt: IPsec ESP in the kernel, which the router
  // starts first. Where the kernel cannot (no esp4), every connection says why and uses
  // encrypted sleeve.
  const ipsec = config.password !== undefined ? { ipsec: (): FastdpIpsec => new KernelIpsec({ logger, port: config.port + 1 }) } : {};
  return {
    ...ipsec,
    start: async (ctx: FastPathContext): Promise<FastPath> => {
      const common: FastPathOptions = { ourName: ctx.ourName, logger, bridge: config.bridgeName, mtu: config.mtu, port: config.port + 1, isolatePorts: ctx.isolatePorts };
      const candidates: (() => FastPath)[] = [];
      if (backend !== 'vxlan') candidates.push(() => new OdpFastPath({ ...common, shortId: ctx.shortId }));
      if (backend !== 'odp') candidates.push(() => new VxlanDeviceFastPath(common));
      const reasons: string[] = [];
      for (const make of candidates) {
        const fastPath = make();
        try {
          await fastPath.start();
          return fastPath;
        } catch (err) {
          reasons.push(err instanceof FastPathUnavailableError ? err.message : `${fastPath.backend}: ${(err as Error).message}`);
          logger.info(`fast path backend ${fastPath.backend} not available: ${reasons.at(-1) ?? ''}`);
        }
      }
      throw new FastPathUnavailableError(reasons.join('; '));
    },
  };
}
