// Per-namespace sysctls under /proc/sys/net, written from a thread inside the target namespace
// (a /proc/sys/net file means the namespace of whoever opens it).
import { loadNative } from './native/index.ts';
import type { WeaveNative } from './native/index.ts';

/** "net.ipv4.ip_forward" or "ipv4/conf/weave/arp_accept" -> /proc/sys/net/... path. Interface
 *  names may contain dots, so the slash form is the unambiguous one. */
export function netSysctlPath(key: string): string {
  const rel = key.includes('/') ? key.replace(/^\/?(proc\/sys\/)?(net\/)?/, '') : key.replace(/^net\./, '').split('.').join('/');
  if (rel === '' || rel.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new Error(`invalid net sysctl key "${key}"`);
  }
  return `/proc/sys/net/${rel}`;
}

export function setNetSysctl(key: string, value: string | number, opts: { netns?: string; native?: WeaveNative } = {}): void {
  const native = opts.native ?? loadNative();
  native.writeFileInNetns(opts.netns, netSysctlPath(key), `${value}\n`);
}
