// `weave rmpeer` and the IPAM views of `weave status`, in Weave's formats.

import type { Command } from 'commander';
import type { IpamStatus } from '../ipam/contract.ts';
import type { RingAllocatorStatus } from '../ipam/ring-allocator.ts';
import { httpText } from './control-client.ts';
import { statusRow as row } from './status-row.ts';

/** One line per peer owning space: Weave's `weave status ipam`. */
export function formatIpamOwners(ring: RingAllocatorStatus): string {
  const byPeer = new Map<string, { nick: string; size: number; known: boolean }>();
  for (const e of ring.Entries) {
    const p = byPeer.get(e.Peer) ?? { nick: e.Nickname, size: 0, known: e.IsKnownPeer };
    p.size += e.Size;
    byPeer.set(e.Peer, p);
  }
  const lines: string[] = [];
  for (const [peer, p] of byPeer) {
    const label = `${peer}(${p.nick})`.padEnd(37);
    const pct = ((100 * p.size) / ring.RangeNumIPs).toFixed(1).padStart(4, '0');
    const tail = peer === ring.Name ? `(${ring.ActiveIPs} active)` : p.known ? '' : '- unreachable!';
    lines.push(`${label} ${String(p.size).padStart(8)} IPs (${pct}% of total) ${tail}`.trimEnd());
  }
  if (lines.length === 0) lines.push(`${ring.Status}${ring.WaitReason ? ` - ${ring.WaitReason}` : ''}`);
  return lines.join('\n');
}

/** The "Service: ipam" block of `weave status`. */
export function formatIpamService(ipam: IpamStatus): string[] {
  const ring = ipam.ring;
  if (!ring) return [row('Service', 'ipam (this host only)'), row('Range', ipam.range), row('DefaultSubnet', ipam.defaultSubnet)];
  const out = [row('Service', 'ipam'), row('Status', ring.Status)];
  if (ring.WaitReason) out.push(row('Waiting', ring.WaitReason));
  out.push(row('Range', ring.Range), row('DefaultSubnet', ipam.defaultSubnet));
  return out;
}

/** `weave rmpeer <name|nickname>...`: take over the address space of peers that are gone for
 *  good. Run it on one surviving peer only. */
export function addIpamCommands(program: Command, statusAddr: (opt?: string) => string, run: (p: Promise<number>) => void): void {
  program
    .command('ipam-rejoin')
    .description("way out of 'IP allocation was seeded by different peers': drop this peer's ring, adopt the other peers' one, and ask back the addresses in use here")
    .option('--status-addr <host:port>', 'status API address')
    .action((opts: { statusAddr?: string }) =>
      run(
        (async () => {
          const res = await httpText(statusAddr(opts.statusAddr), 'DELETE', '/ring');
          (res.status === 200 ? process.stdout : process.stderr).write(res.body);
          return res.status === 200 ? 0 : 1;
        })(),
      ),
    );
  program
    .command('rmpeer')
    .description('take over the IP address space of dead peers (run on ONE surviving peer)')
    .argument('<peers...>', 'peer names or nicknames')
    .option('--status-addr <host:port>', 'status API address')
    .action((peers: string[], opts: { statusAddr?: string }) =>
      run(
        (async () => {
          let code = 0;
          for (const p of peers) {
            const res = await httpText(statusAddr(opts.statusAddr), 'DELETE', `/peer/${encodeURIComponent(p)}`);
            if (res.status === 200) process.stdout.write(res.body);
            else {
              process.stderr.write(`weave rmpeer: ${res.body}`);
              code = 1;
            }
          }
          return code;
        })(),
      ),
    );
}
