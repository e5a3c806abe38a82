// Shared set-up of the in-guest suites: the guest must have the OVS datapath, and two "hosts"
// (netns) are joined by a veth underlay (wv-u1 / wv-u2, 198.18.0.0/24).
import { execFileSync } from 'node:child_process';
import { GenetlinkClient } from '../../datapath/netlink/genetlink.ts';

export const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

/** Fails loudly outside the guest (no root, or a kernel without the OVS datapath). */
export async function requireOvsGuest(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('this suite needs root');
  const genl = GenetlinkClient.open();
  const fam = await genl.family('ovs_datapath');
  genl.close();
  if (fam === undefined) throw new Error('no ovs_datapath genetlink family: run this suite inside the VM (test/vm/weave-vm.sh, or test/kernel/odp-vm.test.ts)');
}

/** Two host namespaces (already created) joined by veth wv-u1/wv-u2 with the given /24 addresses.
 *  IPv6 is off on the underlay: the daemons use IPv4 only, and the kernel's own IPv6 chatter
 *  (router solicitations, MLD reports) would otherwise show up in captures that must hold
 *  nothing but the overlay's traffic. */
export function joinUnderlay(h1: { ns: string; underlay: string }, h2: { ns: string; underlay: string }): void {
  ip('link', 'add', 'wv-u1', 'netns', h1.ns, 'type', 'veth', 'peer', 'name', 'wv-u2', 'netns', h2.ns);
  for (const [h, dev] of [[h1, 'wv-u1'], [h2, 'wv-u2']] as const) {
    // /proc/sys/net belongs to the writer's netns (procps' sysctl may be missing)
    execFileSync('ip', ['netns', 'exec', h.ns, 'sh', '-c', `echo 1 > /proc/sys/net/ipv6/conf/${dev}/disable_ipv6`]);
    ip('-n', h.ns, 'addr', 'add', `${h.underlay}/24`, 'dev', dev);
    ip('-n', h.ns, 'link', 'set', dev, 'up');
    ip('-n', h.ns, 'link', 'set', 'lo', 'up');
  }
}
