import { Command } from 'commander';
import { configFromEnv, resolveConfig } from '../daemon/config.ts';
import type { DaemonStatus } from '../daemon/daemon.ts';
import { packageVersion } from '../common/version.ts';
import { runDaemon } from './daemon-command.ts';
import { launch } from './launch.ts';
import { addDaemonOptions, flagsToConfig, type DaemonFlags } from './options.ts';
import { getJson } from './status-client.ts';
import { formatStatus } from './status-format.ts';
import { stop } from './stop.ts';

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

addDaemonOptions(program.command('launch').description('start the weave daemon in the background and wait until it serves Docker')).action(
  (flags: DaemonFlags) => exitWith(launch(flags)),
);

addDaemonOptions(program.command('daemon').description('run the weave daemon in the foreground')).action((flags: DaemonFlags) =>
  exitWith(runDaemon(flags)),
);

program
  .command('status')
  .description('show what the daemon is doing')
  .option('--json', 'print the status document as JSON')
  .option('--status-addr <host:port>', 'status API address')
  .action((opts: { json?: boolean; statusAddr?: string }) =>
    exitWith(
      (async () => {
        const config = resolveConfig(configFromEnv(process.env), flagsToConfig({ statusAddr: opts.statusAddr }));
        const st = (await getJson(config.statusAddr, '/status')) as DaemonStatus;
        console.log(opts.json ? JSON.stringify(st, null, 2) : formatStatus(st));
        return 0;
      })(),
    ),
  );

program
  .command('stop')
  .description('stop the weave daemon (containers keep their network)')
  .option('--data-dir <dir>', 'state directory')
  .option('--status-addr <host:port>', 'status API address')
  .action((flags: DaemonFlags) => exitWith(stop(flags)));

program.command('version').description('print the version').action(() => console.log(packageVersion()));

await program.parseAsync(process.argv);
