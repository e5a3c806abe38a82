import { spawn, spawnSync } from 'node:child_process';

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the command's stdin, which is then closed. */
  input?: string;
  /** The command is killed (SIGKILL) after this long; default 60 s. */
  timeoutMs?: number;
  /** Return a failed result instead of throwing. */
  allowFail?: boolean;
}

export interface CommandResult {
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

export class CommandError extends Error {
  constructor(readonly result: CommandResult) {
    super(describeFailure(result));
    this.name = 'CommandError';
  }
}

export function describeFailure(r: CommandResult): string {
  const how = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exited with ${r.code}`;
  return `\`${r.command}\` ${how} after ${Math.round(r.durationMs)} ms\n--- stdout\n${clip(r.stdout)}\n--- stderr\n${clip(r.stderr)}`;
}

export function resultOk(r: CommandResult): boolean {
  return r.code === 0 && !r.timedOut;
}

function clip(s: string): string {
  return s.length > 4000 ? `${s.slice(0, 2000)}\n[... ${s.length - 4000} chars ...]\n${s.slice(-2000)}` : s;
}

export function quoteCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** How long to keep reading after the process exited: a detached grandchild (a daemon that
 *  forgot to close inherited stdio) must not hang the caller forever. */
const DRAIN_AFTER_EXIT_MS = 300;

export function runCommand(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
  const started = performance.now();
  const command = quoteCommand(cmd, args);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);

    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout.destroy();
      child.stderr.destroy();
      const result: CommandResult = {
        command, code, signal, stdout, stderr, timedOut, durationMs: performance.now() - started,
      };
      if (!opts.allowFail && !resultOk(result)) reject(new CommandError(result));
      else resolve(result);
    };
    child.on('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`cannot run \`${command}\`: ${err.message}`));
    });
    child.on('close', (code, signal) => finish(code, signal));
    child.on('exit', (code, signal) => {
      setTimeout(() => finish(code, signal), DRAIN_AFTER_EXIT_MS).unref();
    });
  });
}

/** Synchronous variant for teardown paths that must work inside a process 'exit' handler. */
export function runCommandSync(cmd: string, args: readonly string[], opts: RunOptions = {}): CommandResult {
  const started = performance.now();
  const r = spawnSync(cmd, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
    killSignal: 'SIGKILL',
  });
  const result: CommandResult = {
    command: quoteCommand(cmd, args),
    code: r.status,
    signal: r.signal,
    stdout: r.stdout ?? '',
    stderr: (r.stderr ?? '') + (r.error ? `\n${r.error.message}` : ''),
    timedOut: (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT',
    durationMs: performance.now() - started,
  };
  if (!opts.allowFail && !resultOk(result)) throw new CommandError(result);
  return result;
}
