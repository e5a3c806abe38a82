// weaveDNS's control routes on the daemon's API (127.0.0.1:6784), as Weave's nameserver/http.go
// has them, so `weave dns-add/dns-remove/dns-lookup` and scripts can manage names that are not
// containers' (`weave expose -h`, external hosts). Plain-text replies, like Weave's.
//   PUT    /name/<container>/<ip>?fqdn=NAME     register NAME -> ip for container
//   DELETE /name/<container>[/<ip>][?fqdn=NAME] tombstone what matches ("*" = any container)
//   GET    /domain                              our domain
//   GET    /dns/lookup/<name>                   the addresses of a name, one per line
import type express from 'express';
import type { Logger } from '../common/logger.ts';
import { isIpv4 } from '../common/ipv4.ts';
import { DnsNameError, type DnsService } from '../dns/dns-service.ts';
import { describeEntry } from '../dns/entry.ts';

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

export function mountDnsApi(app: express.Express, opts: { dns: DnsService; logger: Logger }): void {
  const { dns, logger } = opts;

  const fail = (res: express.Response, err: unknown): void => {
    const msg = err instanceof Error ? err.message : String(err);
    res.status(err instanceof DnsNameError || err instanceof BadRequest ? 400 : 500).type('text').send(`${msg}\n`);
  };
  const param = (req: express.Request, name: string): string => String(req.params[name] ?? '');
  const fqdnOf = (req: express.Request): string | undefined => {
    const q = req.query['fqdn'];
    if (q === undefined) return undefined;
    if (typeof q !== 'string' || q === '') throw new BadRequest('fqdn must be one non-empty name');
    return q;
  };
  const checkContainer = (id: string, wildcard: boolean): void => {
    if (wildcard && id === '*') return;
    if (!CONTAINER_ID.test(id)) throw new BadRequest(`not a container id: ${JSON.stringify(id)}`);
  };
  const checkIp = (ip: string): void => {
    if (!isIpv4(ip)) throw new BadRequest(`not an IPv4 address: ${JSON.stringify(ip)}`);
  };

  app.put('/name/:container/:ip', (req, res) => {
    try {
      const container = param(req, 'container');
      const ip = param(req, 'ip');
      checkContainer(container, false);
      checkIp(ip);
      const fqdn = fqdnOf(req);
      if (fqdn === undefined) throw new BadRequest('fqdn is required');
      const e = dns.add(container, ip, fqdn);
      logger.info('name added through the API', { entry: describeEntry(e) });
      res.status(204).end();
    } catch (err) {
      fail(res, err);
    }
  });

  const remove = (req: express.Request, res: express.Response): void => {
    try {
      const container = param(req, 'container');
      checkContainer(container, true);
      const ip = req.params['ip'] === undefined ? undefined : param(req, 'ip');
      if (ip !== undefined) checkIp(ip);
      const fqdn = fqdnOf(req);
      const gone = dns.remove({ ...(container !== '*' ? { containerId: container } : {}), ...(ip !== undefined ? { ip } : {}), ...(fqdn !== undefined ? { name: fqdn } : {}) });
      res.type('text').send(gone.map((e) => `${describeEntry(e)}\n`).join(''));
    } catch (err) {
      fail(res, err);
    }
  };
  app.delete('/name/:container', remove);
  app.delete('/name/:container/:ip', remove);

  app.get('/domain', (_req, res) => {
    res.type('text').send(`${dns.domain}\n`);
  });

  app.get('/dns/lookup/:name', (req, res) => {
    try {
      const addrs = dns.lookup(param(req, 'name'));
      if (addrs.length === 0) {
        res.status(404).type('text').send('');
        return;
      }
      res.type('text').send(addrs.map((a) => `${a}\n`).join(''));
    } catch (err) {
      fail(res, err);
    }
  });
}

class BadRequest extends Error {}
