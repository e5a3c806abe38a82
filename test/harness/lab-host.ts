import { startEngine, stopEngine, waitEngine } from './engine.ts';
import type { EngineConfig } from './engine.ts';
import type { LabLayout } from './lab-layout.ts';
import { REPO_ROOT, WEAVE_BIN, requireBuiltCli } from './repo-root.ts';
import { runCommand } from './run-command.ts';
import type { CommandResult, RunOptions } from './run-command.ts';

/** Inside every host the default engine is that host's own dockerd. */
export const HOST_DOCKER_HOST = 'unix:///run/docker.sock';

/** One emulated Docker host: commands run in its netns + mount ns + UTS ns by entering the
 *  namespaces of its holder process. */
export class LabHost {
  readonly name: string;
  readonly netns: string;
  /** Underlay address (eth0 inside the host). */
  readonly address: string;
  readonly files: ReturnType<LabLayout['hostFiles']>;
  readonly engine: EngineConfig;

  constructor(readonly k: number, layout: LabLayout, readonly holderPid: number, dockerd: string) {
    this.name = layout.hostName(k);
    this.netns = layout.hostNetns(k);
    this.address = layout.hostAddress(k);
    this.files = layout.hostFiles(k);
    this.engine = { dockerd, enter: this.nsenterArgs('/'), cgroupParent: `/${layout.cgroupName(k)}`, files: this.files };
  }

  /** Stops this host's dockerd the way an init system would and starts it again; resolves when
   *  it answers. Containers stop with it (and come back if their restart policy says so). */
  async restartEngine(timeoutMs = 30_000): Promise<void> {
    await stopEngine(this.engine, `dockerd of ${this.name}`, timeoutMs);
    startEngine(this.engine);
    await waitEngine(this.engine, `dockerd of ${this.name}`, timeoutMs);
  }

  /** The engine's socket as seen from the root namespace (for tools running outside). */
  get dockerSocket(): string {
    return this.files.dockerSocket;
  }

  /** Environment of commands in the host: ours minus loader options meant for the test runner. */
  private env(extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: HOST_DOCKER_HOST, WEAVE_LAB_HOST: this.name, ...extra };
    delete env.NODE_OPTIONS;
    return env;
  }

  nsenterArgs(cwd: string = '/'): string[] {
    return ['-t', String(this.holderPid), '--net', '--mount', '--uts', `--wd=${cwd}`, '--'];
  }

  /** Runs `cmd args` inside the host; throws on a non-zero exit unless opts.allowFail. */
  exec(cmd: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<CommandResult> {
    return runCommand('nsenter', [...this.nsenterArgs(opts.cwd), cmd, ...args], {
      ...opts,
      cwd: undefined,
      env: this.env(opts.env),
    });
  }

  sh(script: string, opts: RunOptions = {}): Promise<CommandResult> {
    return this.exec('sh', ['-c', script], opts);
  }

  docker(...args: string[]): Promise<CommandResult> {
    return this.exec('docker', args);
  }

  tryDocker(args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    return this.exec('docker', args, { ...opts, allowFail: true });
  }

  /** Our CLI, run from this checkout's build inside the host. */
  weave(...args: string[]): Promise<CommandResult> {
    return this.weaveWith(args, {});
  }

  tryWeave(args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    return this.weaveWith(args, { ...opts, allowFail: true });
  }

  private weaveWith(args: readonly string[], opts: RunOptions): Promise<CommandResult> {
    requireBuiltCli();
    return this.exec(process.execPath, [WEAVE_BIN, ...args], { cwd: REPO_ROOT, ...opts });
  }
}
