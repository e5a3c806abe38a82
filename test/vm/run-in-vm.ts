// TypeScript front of weave-vm.sh: run one command in a throw-away QEMU guest whose Debian
// kernel has the Open vSwitch datapath, and get its output and exit status back.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const VM_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'weave-vm.sh');

/** weave-vm.sh's own statuses, distinct from any the command may return. */
export const VM_TIMED_OUT = 124;
export const VM_FAILED = 125;

export interface VmOptions {
  /** Host directories the guest may write to (same path inside); everything else is discarded. */
  writable?: readonly string[];
  /** Wall-clock limit for boot + command, seconds (default 1800). */
  timeoutSeconds?: number;
  memory?: string;
  cpus?: number;
  /** Working directory in the guest (the host's view of it). Default: process.cwd(). */
  cwd?: string;
  /** Environment passed into the guest (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Called with output as it arrives (the guest is slow; long runs should show progress). */
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
}

export interface VmResult {
  code: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export class VmError extends Error {
  constructor(
    message: string,
    readonly result: VmResult,
  ) {
    super(message);
    this.name = 'VmError';
  }
}

/** Runs `command` (argv) in the guest. Resolves with whatever status the command had; rejects
 *  only when the VM itself could not run (not root, no QEMU, no kernel, timeout). */
export function runInVm(command: readonly string[], opts: VmOptions = {}): Promise<VmResult> {
  if (command.length === 0) throw new Error('runInVm: empty command');
  const args: string[] = [];
  for (const dir of opts.writable ?? []) args.push('-w', dir);
  if (opts.timeoutSeconds !== undefined) args.push('-t', String(opts.timeoutSeconds));
  if (opts.memory !== undefined) args.push('-m', opts.memory);
  if (opts.cpus !== undefined) args.push('-c', String(opts.cpus));
  args.push('--', ...command);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(VM_SCRIPT, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      opts.onStdout?.(s);
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      opts.onStderr?.(s);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const result: VmResult = { code: code ?? 128, stdout, stderr, durationMs: performance.now() - started };
      if (signal !== null) reject(new VmError(`weave-vm.sh killed by ${signal}\n${stderr}`, result));
      else if (code === VM_TIMED_OUT) reject(new VmError(`the VM timed out\n${stderr.slice(-4000)}`, result));
      else if (code === VM_FAILED) reject(new VmError(`the VM could not run the command\n${stderr.slice(-4000)}`, result));
      else resolve(result);
    });
  });
}
