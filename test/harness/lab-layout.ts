import { join } from 'node:path';

/** Every lab this harness creates has a marker directory here; the stale-lab sweeper only ever
 *  touches labs listed here, never namespaces or cgroups it did not create. */
export const LABS_ROOT = '/var/lib/weave-test/labs';

export const UNDERLAY_PREFIX = '198.18.0';
export const UNDERLAY_GATEWAY = `${UNDERLAY_PREFIX}.254`;
export const MAX_HOSTS = 200;

/** Names and paths of one lab, derived from its id alone so teardown can rebuild them from the
 *  marker directory of a crashed run. */
export class LabLayout {
  readonly dir: string;
  readonly wireNetns: string;
  readonly ownerFile: string;

  constructor(readonly id: string, labsRoot: string = LABS_ROOT) {
    if (!/^[a-z0-9]{1,12}$/.test(id)) throw new Error(`bad lab id ${JSON.stringify(id)}`);
    this.dir = join(labsRoot, id);
    this.wireNetns = `wv-${id}-wire`;
    this.ownerFile = join(this.dir, 'owner');
  }

  hostName(k: number): string {
    return `host${k}`;
  }

  hostNetns(k: number): string {
    return `wv-${this.id}-h${k}`;
  }

  /** cgroup parent of the host's dockerd; leading slash so runc does not nest it under itself. */
  cgroupName(k: number): string {
    return `wv-${this.id}-h${k}`;
  }

  hostDir(k: number): string {
    return join(this.dir, `h${k}`);
  }

  hostAddress(k: number): string {
    return `${UNDERLAY_PREFIX}.${k}`;
  }

  /** Port of host K on the wire bridge (lives only inside the wire netns). */
  wirePort(k: number): string {
    return `p${k}`;
  }

  hostFiles(k: number) {
    const d = this.hostDir(k);
    return {
      dir: d,
      run: join(d, 'run'),
      etcDocker: join(d, 'etc-docker'),
      dockerData: join(d, 'docker'),
      weaveData: join(d, 'weave'),
      holderPid: join(d, 'holder.pid'),
      holderLog: join(d, 'holder.log'),
      mntns: join(d, 'mntns'),
      dockerdPid: join(d, 'dockerd.pid'),
      dockerdLog: join(d, 'dockerd.log'),
      /** dockerd's second socket, on the real filesystem so the root ns can reach it. */
      dockerSocket: join(d, 'docker.sock'),
    };
  }
}
