import { Command } from 'commander';
import { configFromEnv, resolveConfig } from '../daemon/config.ts';
import type { DaemonStatus } from '../daemon/daemon-status.ts';
import { packageVersion } from '../common/version.ts';
import { launch } from './launch.ts';
import { addDaemonOptions, flagsToConfig, type DaemonFlags } from './options.ts';
import { getJson } from './status-client.ts';
import { formatStatus } from './status-format.ts';
import { stop } from './stop.ts';
import { postJson } from './control-client.ts';
import { addIpamCommands, formatIpamOwners } from './ipam-commands.ts';
import { addDnsCommands, formatDnsEntries } from './dns-commands.ts';
import { addExposeCommands } from './expose-commands.ts';
import { formatConnections, formatPeers, type RouterStatus } from '../router/mesh/status.ts';

function exitWith(p: Promise<number>): void {
  p.then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`weave: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}

const program = new Command('weave')
  .description('Docker overlay network plugin and router (Weave Net 2.x compatible)')
  .version(packageVersion())
  .showHelpAfterError();

addDaemonOptions(
  program.command('launch').argument('[peers...]', 'peers to connect to (host or host:port)').description('start the weave daemon in the background and wait until it serves Docker'),
).action((peers: string[], flags: DaemonFlags) => exitWith(launch(flags, peers)));

addDaemonOptions(program.command('daemon').argument('[peers...]', 'peers to connect to').description('run the weave daemon in the foreground')).action(
  // loaded only here: every other command (and `launch`, which spawns this one) would otherwise
  // load the whole daemon, Docker client included, just to start
  (peers: string[], flags: DaemonFlags) => exitWith(import('./daemon-command.ts').then((m) => m.runDaemon(flags, peers))),
);

function statusAddr(opt?: string): string {
  return resolveConfig(configFromEnv(process.env), flagsToConfig({ statusAddr: opt })).statusAddr;
}

function routerOf(st: DaemonStatus): RouterStatus {
  if (st.router === undefined) throw new Error('the router is disabled (--no-router)');
  return st.router as RouterStatus;
}

const SUBVIEWS: Record<string, (st: DaemonStatus, json: boolean) => string> = {
  peers: (st, json) => (json ? JSON.stringify(routerOf(st).Peers, null, 2) : formatPeers(routerOf(st)).trimEnd()),
  connections: (st, json) => (json ? JSON.stringify(routerOf(st).Connections, null, 2) : formatConnections(routerOf(st)).trimEnd()),
  targets: (st, json) => (json ? JSON.stringify(routerOf(st).Targets, null, 2) : routerOf(st).Targets.join('\n')),
  ipam: (st, json) =>
    json
      ? JSON.stringify(st.ipam, null, 2)
      : st.ipam.ring
        ? formatIpamOwners(st.ipam.ring)
        : formatStatus({ ...st, router: undefined }).split('\n').filter((l) => /IPAM|allocated/.test(l)).join('\n'),
  dns: formatDnsEntries,
};

program
  .command('status')
  .description('show what the daemon is doing')
  .argument('[view]', `one of: ${Object.keys(SUBVIEWS).join(', ')}`)
  .option('--json', 'print JSON')
  .option('--status-addr <host:port>', 'status API address')
  .action((view: string | undefined, opts: { json?: boolean; statusAddr?: string }) =>
    exitWith(
      (async () => {
        if (view !== undefined && !(view in SUBVIEWS)) throw new Error(`unknown status view "${view}"; try one of: ${Object.keys(SUBVIEWS).join(', ')}`);
        const st = (await getJson(statusAddr(opts.statusAddr), '/status')) as DaemonStatus;
        const text = view !== undefined ? SUBVIEWS[view]!(st, opts.json === true) : opts.json ? JSON.stringify(st, null, 2) : formatStatus(st);
        if (text.length > 0) console.log(text);
        return 0;
      })(),
    ),
  );

for (const [verb, desc] of [
  ['connect', 'connect to more peers (--replace: instead of the current ones)'],
  ['forget', 'stop connecting to these peers'],
] as const) {
  const cmd = program.command(verb).description(desc).argument('<peers...>').option('--status-addr <host:port>', 'status API address');
  if (verb === 'connect') cmd.option('--replace', 'replace the current set of direct peers');
  cmd.action((peers: string[], opts: { statusAddr?: string; replace?: boolean }) =>
    exitWith(
      (async () => {
        const res = await postJson(statusAddr(opts.statusAddr), `/${verb}`, { peers, ...(verb === 'connect' ? { replace: opts.replace === true } : {}) });
        const body = res.body as { errors?: string[]; error?: string };
        if (res.status !== 200) {
          console.error(`weave ${verb}: ${body.error ?? (body.errors ?? []).join('; ')}`);
          return 1;
        }
        return 0;
      })(),
    ),
  );
}

addIpamCommands(program, statusAddr, exitWith);
addDnsCommands(program, statusAddr, exitWith);
addExposeCommands(program, statusAddr, exitWith);

program
  .command('stop')
  .description('stop the weave daemon (containers keep their network)')
  .option('--data-dir <dir>', 'state directory')
  .option('--status-addr <host:port>', 'status API address')
  .action((flags: DaemonFlags) => exitWith(stop(flags)));

program.command('version').description('print the version').action(() => console.log(packageVersion()));

await program.parseAsync(process.argv);
