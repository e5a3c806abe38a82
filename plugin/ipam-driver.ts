// Docker's IpamDriver methods, translated onto the `Ipam` contract. Failures are answered with
// HTTP 500 + {"Err"} like the NetworkDriver side: libnetwork reads `Err` from any non-200 reply,
// while its in-band 200 error key for IPAM would be `Error` (easy to get wrong, so not used).

import type { Logger } from '../common/logger.ts';
import type { Ipam } from '../ipam/contract.ts';
import { releaseAddressSchema, releasePoolSchema, requestAddressSchema, requestPoolSchema } from './ipam-driver-schemas.ts';
import { noArgs, withBody, type RouteTable } from './route.ts';

export interface IpamDriverDeps {
  ipam: Ipam;
  logger: Logger;
}

export class IpamDriver {
  constructor(private readonly deps: IpamDriverDeps) {}

  routes(): RouteTable {
    const { ipam } = this.deps;
    return {
      // We keep our own state, so no replay at daemon start; MACs are not needed to allocate.
      '/IpamDriver.GetCapabilities': noArgs(() => ({ RequiresMACAddress: false, RequiresRequestReplay: false })),
      '/IpamDriver.GetDefaultAddressSpaces': noArgs(() => {
        const spaces = ipam.defaultAddressSpaces();
        return { LocalDefaultAddressSpace: spaces.local, GlobalDefaultAddressSpace: spaces.global };
      }),
      '/IpamDriver.RequestPool': withBody('RequestPool', requestPoolSchema, async (req, ctx) => {
        const pool = emptyToUndefined(req.Pool);
        const subPool = emptyToUndefined(req.SubPool);
        const grant = await ipam.requestPool({
          ...(pool === undefined ? {} : { pool }),
          ...(subPool === undefined ? {} : { subPool }),
          options: req.Options ?? {},
          v6: req.V6 ?? false,
        });
        if (ctx.expired()) {
          // Docker was already told this failed and will never release it.
          await ipam.releasePool(grant.poolId);
          this.deps.logger.warn('RequestPool finished after its deadline or its caller hung up; released', { poolId: grant.poolId });
          return {};
        }
        this.deps.logger.debug('pool granted', { poolId: grant.poolId, pool: grant.pool });
        return { PoolID: grant.poolId, Pool: grant.pool, Data: grant.data };
      }),
      '/IpamDriver.ReleasePool': withBody('ReleasePool', releasePoolSchema, async (req) => {
        await ipam.releasePool(req.PoolID);
        return {};
      }),
      '/IpamDriver.RequestAddress': withBody('RequestAddress', requestAddressSchema, async (req, ctx) => {
        const address = emptyToUndefined(req.Address);
        const granted = await ipam.requestAddress({
          poolId: req.PoolID,
          ...(address === undefined ? {} : { address }),
          options: stringValues(req.Options ?? {}),
        });
        if (ctx.expired()) {
          await ipam.releaseAddress(req.PoolID, granted);
          this.deps.logger.warn('RequestAddress finished after its deadline or its caller hung up; released', { poolId: req.PoolID, address: granted });
          return {};
        }
        return { Address: granted, Data: {} };
      }),
      '/IpamDriver.ReleaseAddress': withBody('ReleaseAddress', releaseAddressSchema, async (req) => {
        await ipam.releaseAddress(req.PoolID, req.Address);
        return {};
      }),
    };
  }
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** The contract's options are strings; drop the odd non-string value Docker may put in. */
function stringValues(options: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(options)) if (typeof value === 'string') out[key] = value;
  return out;
}
