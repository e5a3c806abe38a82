// Which kernel fast path this host uses: the daemon decides, the router only starts what it is
// given (it sees the FastPath contract, never a backend).
import type { Logger } from '../common/logger.ts';
import { FastPathUnavailableError } from '../datapath/fastpath/contract.ts';
import type { FastPath, FastPathChoice, FastPathContext, FastPathOptions } from '../datapath/fastpath/contract.ts';
import { VxlanDeviceFastPath } from '../datapath/fastpath/vxlan-device-fastpath.ts';
import { OdpFastPath } from '../datapath/odp/odp-fastpath.ts';
import { detectEsp } from '../datapath/ipsec/esp-probe.ts';
import type { DaemonConfig } from './config.ts';

type FastPathConfig = Pick<DaemonConfig, 'fastdp' | 'fastdpBackend' | 'password' | 'bridgeName' | 'mtu' | 'port'>;

/** `auto` tries the Open vSwitch datapath (Weave's own fastdp, so Weave routers can use it
 *  with us) and falls back to vxlan devices, which any kernel with vxlan has. */
export function chooseFastPath(config: FastPathConfig, logger: Logger): FastPathChoice {
  if (!config.fastdp) return { disabled: '--no-fastdp' };
  // With a password the fast path must encrypt (IPsec ESP in the kernel). The kernel is asked
  // when the router starts, once: its answer is the reason every connection shows for using
  // encrypted sleeve.
  if (config.password !== undefined) {
    return {
      start: async (): Promise<FastPath> => {
        const esp = await detectEsp();
        if (!esp.ok) {
          logger.debug(`IPsec probe: ${esp.detail}`);
          throw new FastPathUnavailableError(esp.reason);
        }
        // the kernel can, but the router does not drive IPsec yet (datapath/ipsec has the parts)
        throw new FastPathUnavailableError('encrypted fastdp (IPsec) is not built yet');
      },
    };
  }
  const backend = config.fastdpBackend;
  return {
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
