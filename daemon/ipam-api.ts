// Weave's IPAM HTTP routes on the daemon's control API (127.0.0.1:6784), so scripts and tests can
// allocate, claim and release addresses by identifier, and `weave rmpeer` can reclaim the space
// of a dead peer. Replies are plain text as Weave's are: "a.b.c.d/len" for allocations.

import type express from 'express';
import type { Logger } from '../common/logger.ts';
import { formatCidr, lastOf, parseAddressWithPrefix, parseCidr, type Cidr } from '../ipam/cidr.ts';
import { formatIpv4, parseIpv4 } from '../common/ipv4.ts';
import { IpamWaitError, type RingAllocator } from '../ipam/ring-allocator.ts';

export interface IpamApiOptions {
  allocator: RingAllocator;
  defaultSubnet: string;
  logger: Logger;
}

/** Mounts /ip, /ip/..., /peer/... and /ring on `app`; DELETE /ring is `weave ipam-rejoin`. */
export function mountIpamApi(app: express.Express, opts: IpamApiOptions): void {
  const { allocator } = opts;
  const defaultSubnet = parseCidr(opts.defaultSubnet);

  const subnetOf = (ip: string, prefix: string): Cidr => {
    const { address, prefix: len } = parseAddressWithPrefix(`${ip}/${prefix}`);
    return { base: (address & (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0)) >>> 0, prefix: len };
  };

  const allocateIn = async (id: string, subnet: Cidr, res: express.Response): Promise<void> => {
    if (!allocator.inRange(subnet)) {
      res.status(400).type('text').send(`subnet ${formatCidr(subnet)} is not inside the IPAM range ${formatCidr(allocator.range)}\n`);
      return;
    }
    const span = { start: subnet.base + 1, end: lastOf(subnet) };
    if (span.end <= span.start) {
      // a /31 or /32: nothing between the network and broadcast addresses to wait for
      res.status(400).type('text').send(`subnet ${formatCidr(subnet)} has no host addresses\n`);
      return;
    }
    const ask = { start: subnet.base, end: lastOf(subnet) + 1 };
    const a = await allocator.allocate(id, span, ask);
    res.type('text').send(`${formatIpv4(a)}/${subnet.prefix}`);
  };

  const wrap =
    (fn: (req: express.Request, res: express.Response) => Promise<void>) =>
    (req: express.Request, res: express.Response): void => {
      // through a promise, so that parameters refused before the first await (a bad address in
      // the path) are the client's 400 too, not Express's 500
      Promise.resolve()
        .then(() => fn(req, res))
        .catch((err: unknown) => {
          const msg = err instanceof Error ? err.message : String(err);
          // a bounded wait that ran out is the mesh not being ready, not a bad request
          res.status(err instanceof IpamWaitError ? 503 : 400).type('text').send(`${msg}\n`);
        });
    };

  app.get('/ip', (_req, res) => {
    res.json({ owned: [...allocator.allOwned()].map(([id, addrs]) => ({ containerid: id, addrs: addrs.map(formatIpv4) })) });
  });
  app.get('/ring', (_req, res) => {
    res.json(allocator.status());
  });
  app.get(
    '/ip/:id',
    wrap(async (req, res) => {
      const addrs = allocator.addressesOf(String(req.params['id']));
      if (addrs.length === 0) {
        res.status(404).type('text').send('not found\n');
        return;
      }
      res.type('text').send(addrs.map(formatIpv4).join(' '));
    }),
  );
  app.post(
    '/ip/:id',
    wrap((req, res) => allocateIn(String(req.params['id']), defaultSubnet, res)),
  );
  app.post(
    '/ip/:id/:ip/:prefix',
    wrap((req, res) => allocateIn(String(req.params['id']), subnetOf(String(req.params['ip']), String(req.params['prefix'])), res)),
  );
  app.put(
    '/ip/:id/:ip/:prefix',
    wrap(async (req, res) => {
      await allocator.claim(String(req.params['id']), parseIpv4(String(req.params['ip'])));
      res.status(204).end();
    }),
  );
  app.delete(
    '/ip/:id',
    wrap(async (req, res) => {
      await allocator.release(String(req.params['id']));
      res.status(204).end();
    }),
  );
  app.delete(
    '/ip/:id/:ip',
    wrap(async (req, res) => {
      await allocator.release(String(req.params['id']), parseIpv4(String(req.params['ip'])));
      res.status(204).end();
    }),
  );
  app.delete(
    '/ring',
    wrap(async (_req, res) => {
      const { addresses } = await allocator.rejoin();
      res.type('text').send(`dropped this peer's ring; waiting for the ring of the peers it connects to, then asking back ${addresses} addresses in use here\n`);
    }),
  );
  app.delete(
    '/peer/:id',
    wrap(async (req, res) => {
      const { peer, taken } = await allocator.removePeer(String(req.params['id']));
      opts.logger.info('rmpeer', { peer, taken });
      res.type('text').send(`${taken} IPs taken over from ${peer}\n`);
    }),
  );
}
