// `weave expose [CIDR...] [-h NAME]` and `weave hide [CIDR...]`, as Weave's script had them: each
// prints the host's addresses with their prefix, one per line; and the exposed addresses in
// `weave status`.
import type { Command } from 'commander';
import type { DaemonStatus } from '../daemon/daemon-status.ts';
import type { ExposeReply, ExposeStatus, HideReply } from '../daemon/expose-contract.ts';
import { sendJson } from './control-client.ts';
import { statusRow as row } from './status-row.ts';

/** Long enough for IPAM to wait for the ring's consensus (about 10 s) on a fresh mesh. */
const EXPOSE_TIMEOUT_MS = 30_000;

/** The "Exposed" lines of `weave status`; none when nothing is exposed. */
export function formatExposeService(st: DaemonStatus): string[] {
  const expose = st.services['expose'] as ExposeStatus | undefined;
  return (expose?.exposed ?? []).map((e, i) => row(i === 0 ? 'Exposed' : '', `${e.address} on ${e.interface}${e.name !== undefined ? ` (${e.name})` : ''}`));
}

export function addExposeCommands(program: Command, statusAddr: (opt?: string) => string, run: (p: Promise<number>) => void): void {
  program
    .command('expose')
    .description('give this host an address on weave networks (default: the default network), so host processes and containers reach each other; prints it')
    .argument('[cidr...]', 'a network\'s subnet (any free address), an address with its prefix (that one), net:CIDR, ip:CIDR or net:default')
    .option('-h, --hostname <name>', 'the weaveDNS name for the address (default: this host\'s hostname)')
    .option('--status-addr <host:port>', 'status API address')
    .action((cidrs: string[], opts: { hostname?: string; statusAddr?: string }) =>
      run(
        (async () => {
          const res = await sendJson(statusAddr(opts.statusAddr), 'POST', '/expose', { cidrs, ...(opts.hostname !== undefined ? { name: opts.hostname } : {}) }, EXPOSE_TIMEOUT_MS);
          const body = replyOf<ExposeReply>(res);
          for (const e of body.exposed) console.log(e.address);
          return 0;
        })(),
      ),
    );

  program
    .command('hide')
    .description('take this host\'s address off weave networks (default: the default network); prints what was removed')
    .argument('[cidr...]', 'as for expose')
    .option('--status-addr <host:port>', 'status API address')
    .action((cidrs: string[], opts: { statusAddr?: string }) =>
      run(
        (async () => {
          const body = replyOf<HideReply>(await sendJson(statusAddr(opts.statusAddr), 'DELETE', '/expose', { cidrs }, EXPOSE_TIMEOUT_MS));
          for (const e of body.hidden) console.log(e.address);
          return 0;
        })(),
      ),
    );
}

function replyOf<T>(res: { status: number; body: unknown }): T {
  if (res.status !== 200) {
    const error = (res.body as { error?: unknown } | undefined)?.error;
    throw new Error(typeof error === 'string' ? error : `the daemon answered ${res.status}`);
  }
  return res.body as T;
}
