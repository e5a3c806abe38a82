// Throwaway network namespaces for kernel tests, and JSON views of their state via iproute2.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';

/** Kernel tests need root; they must fail loudly, never skip. */
export function requireRoot(): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error('kernel tests must run as root (they create network namespaces and devices)');
  }
}

export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export class TestNetns {
  readonly name: string;
  readonly path: string;
  private deleted = false;

  constructor(tag: string) {
    requireRoot();
    this.name = `wv-k-${tag}-${crypto.randomBytes(3).toString('hex')}`;
    this.path = `/run/netns/${this.name}`;
    run('ip', ['netns', 'add', this.name]);
  }

  /** `ip -j -n <ns> <args>` parsed. */
  ipJson<T = unknown>(...args: string[]): T {
    const out = run('ip', ['-j', '-n', this.name, ...args]).trim();
    return (out === '' ? [] : JSON.parse(out)) as T;
  }

  bridgeJson<T = unknown>(...args: string[]): T {
    const out = run('bridge', ['-j', '-n', this.name, ...args]).trim();
    return (out === '' ? [] : JSON.parse(out)) as T;
  }

  ip(...args: string[]): string {
    return run('ip', ['-n', this.name, ...args]);
  }

  exec(cmd: string, ...args: string[]): string {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args]);
  }

  /** Deleting the netns destroys every device in it. Safe to call twice. */
  destroy(): void {
    if (this.deleted) return;
    this.deleted = true;
    try {
      run('ip', ['netns', 'del', this.name]);
    } catch (err) {
      console.error(`cleanup: could not delete netns ${this.name}:`, err);
    }
  }
}

export interface IpLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  address: string;
  flags: string[];
  master?: string;
  operstate: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}
