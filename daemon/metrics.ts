import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { DaemonStatus } from './daemon-status.ts';

interface ConnectionView {
  State: string;
  Info?: string;
  Attrs?: { name?: unknown; encrypted?: unknown; reason?: unknown };
}

interface RouterView {
  Connections?: ConnectionView[];
  TerminationCount?: number;
  Gossip?: { sentMessages: number; sentBytes: number; receivedMessages: number; receivedBytes: number };
}

function rangeSize(cidr: string): number {
  const bits = Number(cidr.split('/')[1]);
  return 2 ** (32 - bits);
}

/** Prometheus metrics under Weave's names, computed from the daemon's status at scrape time so
 *  no hot path pays for them. One registry per daemon: no global state. */
export function createMetrics(status: () => Promise<DaemonStatus>): Registry {
  const registry = new Registry();
  // The event-loop-lag histogram samples on a libuv timer: at prom-client's default 10 ms that
  // woke an idle daemon 100 times a second (most of its idle CPU); once a second is plenty for
  // metrics scraped every few seconds.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 });
  let snapshot: Promise<DaemonStatus> | undefined;
  // one status read per scrape, shared by every collector of that scrape
  const current = (): Promise<DaemonStatus> => {
    snapshot ??= status().finally(() => setImmediate(() => (snapshot = undefined)));
    return snapshot;
  };
  new Gauge({
    name: 'weave_connections',
    help: 'Number of peer connections, by state, overlay type and encryption.',
    labelNames: ['state', 'type', 'encryption'],
    registers: [registry],
    async collect() {
      this.reset();
      const router = (await current()).router as RouterView | undefined;
      for (const c of router?.Connections ?? []) {
        const type = typeof c.Attrs?.name === 'string' ? c.Attrs.name : '';
        this.inc({ state: c.State, type, encryption: c.Attrs?.encrypted === true ? 'yes' : '' });
      }
    },
  });
  // per connection: which overlay carries it and, when not fastdp, why (issue: silent fallback)
  new Gauge({
    name: 'weave_connection_overlay',
    help: 'One per established connection: its overlay (fastdp or sleeve) and why it is not on fastdp.',
    labelNames: ['peer', 'overlay', 'reason'],
    registers: [registry],
    async collect() {
      this.reset();
      const router = (await current()).router as RouterView | undefined;
      for (const c of router?.Connections ?? []) {
        if (c.State !== 'established') continue;
        const peer = c.Info?.trim().split(/\s+/).pop() ?? '';
        const overlay = typeof c.Attrs?.name === 'string' ? c.Attrs.name : '';
        const reason = typeof c.Attrs?.reason === 'string' ? c.Attrs.reason : '';
        this.set({ peer, overlay, reason }, 1);
      }
    },
  });
  new Gauge({
    name: 'weave_connection_terminations_total',
    help: 'Number of peer connections terminated.',
    registers: [registry],
    async collect() {
      const router = (await current()).router as RouterView | undefined;
      this.set(router?.TerminationCount ?? 0);
    },
  });
  new Gauge({
    name: 'weave_gossip_bytes_total',
    help: 'Gossip message bytes (all channels) since the daemon started, by direction.',
    labelNames: ['direction'],
    registers: [registry],
    async collect() {
      const g = ((await current()).router as RouterView | undefined)?.Gossip;
      this.set({ direction: 'sent' }, g?.sentBytes ?? 0);
      this.set({ direction: 'received' }, g?.receivedBytes ?? 0);
    },
  });
  new Gauge({
    name: 'weave_ips',
    help: 'Number of IP addresses.',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const ipam = (await current()).ipam;
      this.set({ state: 'local-used' }, ipam.ring ? ipam.ring.ActiveIPs : ipam.pools.reduce((n, p) => n + p.allocated, 0));
    },
  });
  new Gauge({
    name: 'weave_max_ips',
    help: 'Size of the IP range.',
    registers: [registry],
    async collect() {
      this.set(rangeSize((await current()).ipam.range));
    },
  });
  // the distributed IPAM's health: space held by peers we cannot reach, and waiting requests
  const unreachable = async (): Promise<{ count: number; size: number; total: number }> => {
    const ring = (await current()).ipam.ring;
    const gone = new Set<string>();
    let size = 0;
    for (const e of ring?.Entries ?? []) {
      if (e.IsKnownPeer || e.Peer === ring?.Name) continue;
      gone.add(e.Peer);
      size += e.Size;
    }
    return { count: gone.size, size, total: ring?.RangeNumIPs ?? 0 };
  };
  new Gauge({
    name: 'weave_ipam_unreachable_count',
    help: 'Number of peers owning IP space that this peer cannot reach.',
    registers: [registry],
    async collect() {
      this.set((await unreachable()).count);
    },
  });
  new Gauge({
    name: 'weave_ipam_unreachable_percentage',
    help: 'Percentage of the IP range owned by unreachable peers.',
    registers: [registry],
    async collect() {
      const u = await unreachable();
      this.set(u.total === 0 ? 0 : (100 * u.size) / u.total);
    },
  });
  new Gauge({
    name: 'weave_ipam_pending_allocates',
    help: 'Number of address allocations waiting for consensus or space.',
    registers: [registry],
    async collect() {
      this.set((await current()).ipam.ring?.PendingAllocates ?? 0);
    },
  });
  new Gauge({
    name: 'weave_ipam_pending_claims',
    help: 'Number of address claims waiting for consensus or space.',
    registers: [registry],
    async collect() {
      this.set((await current()).ipam.ring?.PendingClaims ?? 0);
    },
  });
  return registry;
}
