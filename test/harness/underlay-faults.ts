import type { Lab } from './lab.ts';
import { runCommand } from './run-command.ts';

/** nftables table the harness owns inside a host's netns; the daemon's own tables are others. */
const TABLE = 'wv_lab_faults';

/** Faults on the underlay of a lab, for tests of what the overlay does when the network
 *  misbehaves: a host cut off, a smaller path MTU, a UDP port filtered, random loss. Everything
 *  acts inside the lab's namespaces (the wire port of a host, or the host's own eth0). */
export class UnderlayFaults {
  constructor(private readonly lab: Lab) {}

  private wirePort(k: number): string {
    this.lab.host(k);
    return this.lab.layout.wirePort(k);
  }

  /** Pulls host K's cable: its port on the wire bridge goes down. */
  async disconnect(k: number): Promise<void> {
    await runCommand('ip', ['-n', this.lab.layout.wireNetns, 'link', 'set', this.wirePort(k), 'down']);
  }

  async reconnect(k: number): Promise<void> {
    await runCommand('ip', ['-n', this.lab.layout.wireNetns, 'link', 'set', this.wirePort(k), 'up']);
  }

  /** MTU of host K's underlay link, on both ends of the cable. */
  async setMtu(k: number, mtu: number): Promise<void> {
    await runCommand('ip', ['-n', this.lab.layout.wireNetns, 'link', 'set', this.wirePort(k), 'mtu', String(mtu)]);
    await this.lab.host(k).exec('ip', ['link', 'set', 'eth0', 'mtu', String(mtu)]);
  }

  private async ensureTable(k: number): Promise<void> {
    const h = this.lab.host(k);
    await h.exec('nft', ['-f', '-'], {
      input: `table inet ${TABLE} {
  chain input { type filter hook input priority -300; policy accept; }
  chain output { type filter hook output priority -300; policy accept; }
}
`,
    });
  }

  /** Host K drops UDP to and from `port` on its underlay (optionally only with one peer). */
  async blockUdp(k: number, port: number, peer?: string): Promise<void> {
    await this.ensureTable(k);
    const from = peer ? `ip saddr ${peer} ` : '';
    const to = peer ? `ip daddr ${peer} ` : '';
    await this.lab.host(k).exec('nft', ['-f', '-'], {
      input: `add rule inet ${TABLE} input iifname "eth0" ${from}udp dport ${port} drop
add rule inet ${TABLE} input iifname "eth0" ${from}udp sport ${port} drop
add rule inet ${TABLE} output oifname "eth0" ${to}udp dport ${port} drop
add rule inet ${TABLE} output oifname "eth0" ${to}udp sport ${port} drop
`,
    });
  }

  /** Host K loses `percent` % of its underlay packets, each way, at random. */
  async loss(k: number, percent: number): Promise<void> {
    if (!(percent >= 0 && percent <= 100)) throw new Error(`loss: percent must be 0..100, got ${percent}`);
    const p = Math.round(percent);
    if (p === 0) return;
    await this.ensureTable(k);
    // numgen's range is 0..99, so 100 % is a plain drop
    const pick = p === 100 ? '' : `numgen random mod 100 < ${p} `;
    await this.lab.host(k).exec('nft', ['-f', '-'], {
      input: `add rule inet ${TABLE} input iifname "eth0" ${pick}drop
add rule inet ${TABLE} output oifname "eth0" ${pick}drop
`,
    });
  }

  /** Removes every filter of host K and reconnects it; the MTU goes back to 1500. */
  async clear(k: number): Promise<void> {
    const h = this.lab.host(k);
    await h.exec('nft', ['delete', 'table', 'inet', TABLE], { allowFail: true });
    await this.setMtu(k, 1500);
    await this.reconnect(k);
  }
}
