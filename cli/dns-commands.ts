// weaveDNS verbs of the CLI, as Weave's script had them: dns-args, dns-lookup, dns-add,
// dns-remove; and the `weave status dns` view.
import type { Command } from 'commander';
import type { DaemonStatus } from '../daemon/daemon-status.ts';
import type { DnsStatus } from '../dns/dns-service.ts';
import { EXTERNAL_CONTAINER } from '../dns/entry.ts';
import { httpText } from './control-client.ts';
import { statusRow as row } from './status-row.ts';
import { getJson } from './status-client.ts';

function dnsOf(st: DaemonStatus): DnsStatus {
  const dns = st.services['dns'] as DnsStatus | { error: string } | undefined;
  if (dns === undefined) throw new Error('weaveDNS is off on this host (the daemon runs with --no-dns)');
  if ('error' in dns) throw new Error(`weaveDNS: ${dns.error}`);
  return dns;
}

/** `weave status dns`: one line per entry, as Weave prints it (name, address, container, origin). */
export function formatDnsEntries(st: DaemonStatus, json: boolean): string {
  const dns = dnsOf(st);
  if (json) return JSON.stringify(dns, null, 2);
  return dns.entries
    .filter((e) => e.tombstone === 0)
    .map((e) => `${e.hostname.replace(/\.$/, '').padEnd(24)} ${e.address.padEnd(15)} ${e.containerId.slice(0, 12).padEnd(12)} ${e.origin}`)
    .join('\n');
}

/** The "Service: dns" block of `weave status`. */
export function formatDnsService(st: DaemonStatus): string[] {
  const raw = st.services['dns'] as DnsStatus | { error: string } | undefined;
  if (raw === undefined) return [];
  if ('error' in raw) return [row('Service', 'dns'), row('Status', raw.error)];
  const live = raw.entries.filter((e) => e.tombstone === 0).length;
  return [row('Service', 'dns'), row('Domain', raw.domain), row('Upstream', raw.upstream.join(', ') || '(none)'), row('TTL', String(raw.ttl)), row('Entries', String(live)), row('Listen', `${raw.address}:${raw.port}`)];
}

export function addDnsCommands(program: Command, statusAddr: (opt?: string) => string, run: (p: Promise<number>) => void): void {
  program
    .command('dns-args')
    .description('print the docker run flags that point one container at weaveDNS (not needed with the one-time host setting, docs/dns.md)')
    .option('--status-addr <host:port>', 'status API address')
    .action((opts: { statusAddr?: string }) =>
      run(
        (async () => {
          const dns = dnsOf((await getJson(statusAddr(opts.statusAddr), '/status')) as DaemonStatus);
          console.log(`--dns=${dns.address} --dns-search=${dns.domain.replace(/\.$/, '')}`);
          return 0;
        })(),
      ),
    );

  program
    .command('dns-lookup')
    .description('print the addresses weaveDNS has for a name, one per line (exit 1 if none)')
    .argument('<name>')
    .option('--status-addr <host:port>', 'status API address')
    .action((name: string, opts: { statusAddr?: string }) =>
      run(
        (async () => {
          const res = await httpText(statusAddr(opts.statusAddr), 'GET', `/dns/lookup/${encodeURIComponent(name)}`);
          if (res.status === 404) return 1;
          if (res.status !== 200) throw new Error(res.body.trim());
          process.stdout.write(res.body);
          return 0;
        })(),
      ),
    );

  for (const verb of ['dns-add', 'dns-remove'] as const) {
    program
      .command(verb)
      .description(
        verb === 'dns-add'
          ? 'register addresses under a name (-h), for a container (--container) or for something that is not one'
          : 'remove names: those of a container, of addresses, or one name (-h)',
      )
      .argument(verb === 'dns-add' ? '<ip...>' : '[ip...]')
      .option('-h, --hostname <fqdn>', 'the name (inside the weaveDNS domain, or a single label)')
      .option('--container <id>', 'the container the name belongs to (default: none)')
      .option('--status-addr <host:port>', 'status API address')
      .action((ips: string[], opts: { hostname?: string; container?: string; statusAddr?: string }) =>
        run(
          (async () => {
            const addr = statusAddr(opts.statusAddr);
            const fqdn = opts.hostname === undefined ? '' : `?fqdn=${encodeURIComponent(opts.hostname)}`;
            if (verb === 'dns-add' && opts.hostname === undefined) throw new Error('dns-add needs -h <name>');
            if (verb === 'dns-remove' && ips.length === 0 && opts.hostname === undefined && opts.container === undefined) {
              throw new Error('dns-remove needs addresses, -h <name> or --container <id>');
            }
            const container = encodeURIComponent(opts.container ?? (verb === 'dns-add' ? EXTERNAL_CONTAINER : '*'));
            const paths = ips.length > 0 ? ips.map((ip) => `/name/${container}/${encodeURIComponent(ip)}${fqdn}`) : [`/name/${container}${fqdn}`];
            for (const path of paths) {
              const res = await httpText(addr, verb === 'dns-add' ? 'PUT' : 'DELETE', path);
              if (res.status >= 300) throw new Error(res.body.trim());
            }
            return 0;
          })(),
        ),
      );
  }
}
