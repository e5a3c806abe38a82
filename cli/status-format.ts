import type { DaemonStatus } from '../daemon/daemon-status.ts';
import { formatIpamService } from './ipam-commands.ts';
import { statusRow as row } from './status-row.ts';
import { formatDnsService } from './dns-commands.ts';
import { formatExposeService } from './expose-commands.ts';
import { formatRouterSummary, type RouterStatus } from '../router/mesh/status.ts';

interface PluginStatusView {
  socket?: string;
  networks?: { id: string; subnet?: string; endpoints?: number }[];
  endpoints?: number;
}

/** Human summary in Weave's aligned "Label: value" style; `--json` prints the raw document. */
export function formatStatus(st: DaemonStatus): string {
  const lines: string[] = [];
  lines.push(row('Version', `${st.version} (pid ${st.pid}, up ${st.uptimeSeconds} s)`));
  lines.push(row('Data dir', st.dataDir));
  lines.push('');
  if (st.router !== undefined) {
    lines.push(
      ...formatRouterSummary(st.router as RouterStatus)
        .trimEnd()
        .split('\n')
        .map((l) => ' ' + l),
    );
    lines.push('');
  }
  lines.push(
    row('Bridge', 'error' in st.bridge ? `${st.bridge.name} — ${st.bridge.error}` : `${st.bridge.name} (mtu ${st.bridge.mtu}, ${st.bridge.up ? 'up' : 'DOWN'})`),
  );
  const plugin = st.plugin as PluginStatusView;
  const nets = plugin.networks ?? [];
  lines.push(row('Plugin', `${plugin.socket ?? '?'} — ${nets.length} networks, ${plugin.endpoints ?? 0} endpoints`));
  for (const n of nets) lines.push(row('', `network ${n.id.slice(0, 12)} ${n.subnet ?? ''} (${n.endpoints ?? 0} endpoints)`));
  lines.push(row('Default network', `${st.defaultNetwork.name} (${st.defaultNetwork.state}${st.defaultNetwork.error ? `: ${st.defaultNetwork.error}` : ''})`));
  lines.push(...formatExposeService(st));
  lines.push('');
  lines.push(...formatIpamService(st.ipam));
  lines.push(row('IPAM', `range ${st.ipam.range}, default subnet ${st.ipam.defaultSubnet}`));
  for (const p of st.ipam.pools) lines.push(row('', `${p.subnet}${p.range !== p.subnet ? ` range ${p.range}` : ''}: ${p.allocated} allocated, ${p.free} free`));
  const dns = formatDnsService(st);
  if (dns.length > 0) lines.push('', ...dns);
  return lines.join('\n');
}
