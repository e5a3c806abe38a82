import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, fchmodSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { configFromEnv, resolveConfig, type DaemonConfig } from '../daemon/config.ts';
import { flagsToArgv, flagsToConfig, type DaemonFlags } from './options.ts';
import { getJson } from './status-client.ts';

const READY_TIMEOUT_MS = 30_000;

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function daemonPid(config: DaemonConfig): Promise<number | undefined> {
  try {
    const st = (await getJson(config.statusAddr, '/status', 1000)) as { pid?: number };
    return st.pid;
  } catch {
    return undefined;
  }
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Start the daemon detached and return once it serves both the plugin socket and the status
 *  API, so a script can run `docker network create -d weave` right after `weave launch`. */
export async function launch(flags: DaemonFlags, peers: string[] = []): Promise<number> {
  const config = resolveConfig(configFromEnv(process.env), flagsToConfig(flags, peers));
  const running = await daemonPid(config);
  if (running !== undefined) {
    console.log(`weave is already running (pid ${running})`);
    return 0;
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const logPath = join(config.dataDir, 'weave.log');
  // the daemon's umask is the caller's (an init script may run us under umask 000): set the mode
  // ourselves, also on a log an older version left world-writable
  const out = openSync(logPath, 'a', 0o600);
  fchmodSync(out, 0o600);
  const script = process.argv[1];
  if (!script) throw new Error('cannot tell which script to start the daemon from');
  const env = { ...process.env, ...(flags.password !== undefined ? { WEAVE_PASSWORD: flags.password } : {}) };
  const child = spawn(process.execPath, [...process.execArgv, script, 'daemon', ...flagsToArgv(flags), ...peers], {
    detached: true,
    stdio: ['ignore', out, out],
    env,
  });
  closeSync(out);
  let exited: number | null | undefined;
  child.once('exit', (code, signal) => {
    exited = code ?? (signal ? 128 : 1);
  });
  child.unref();

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      console.error(`weave daemon exited during start-up (code ${exited}); last lines of ${logPath}:\n${tail(logPath, 15)}`);
      return 1;
    }
    const pid = await daemonPid(config);
    if (pid !== undefined && (await socketAnswers(config.pluginSocket))) {
      console.log(pid);
      return 0;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  console.error(`weave daemon (pid ${child.pid}) did not become ready within ${READY_TIMEOUT_MS / 1000} s; see ${logPath}:\n${tail(logPath, 15)}`);
  return 1;
}
