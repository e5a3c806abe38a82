// The router's part of Weave's /report (`Router{...}`) and the text of `weave status`,
// `weave status connections` and `weave status peers`, in Weave's formats.

export interface PeerConnectionStatus {
  Name: string;
  NickName: string;
  Address: string;
  Outbound: boolean;
  Established: boolean;
}

export interface PeerStatus {
  Name: string;
  NickName: string;
  /** Decimal: a uint64 does not survive JSON numbers in JavaScript. */
  UID: string;
  ShortID: number;
  Version: number;
  Connections: PeerConnectionStatus[];
}

export interface LocalConnectionStatus {
  Address: string;
  Outbound: boolean;
  State: 'established' | 'pending' | 'retrying' | 'failed' | 'connecting' | 'waiting';
  Info: string;
  Attrs?: Record<string, unknown>;
}

export interface RouterStatus {
  Protocol: string;
  ProtocolMinVersion: number;
  ProtocolMaxVersion: number;
  Encryption: boolean;
  PeerDiscovery: boolean;
  Name: string;
  NickName: string;
  Port: number;
  Peers: PeerStatus[];
  UnicastRoutes: { Dest: string; Via: string }[];
  BroadcastRoutes: { Source: string; Via: string[] }[];
  Connections: LocalConnectionStatus[];
  TerminationCount: number;
  Targets: string[];
  TrustedSubnets: string[];
  /** Ours, not Weave's: gossip messages and bytes since start (all channels). */
  Gossip: { sentMessages: number; sentBytes: number; receivedMessages: number; receivedBytes: number };
}

const pad = (s: string, n: number): string => s.padEnd(n);
const arrow = (outbound: boolean): string => (outbound ? '->' : '<-');

/** Attributes other than `name`, as `key=value` with no separator (Weave's template). */
function attrsText(attrs: Record<string, unknown> | undefined): string {
  if (!attrs) return '';
  const parts = Object.keys(attrs)
    .filter((k) => k !== 'name')
    .sort()
    .map((k) => `${k}=${String(attrs[k])}`);
  return parts.length > 0 ? ' ' + parts.join('') : '';
}

export function formatConnections(status: RouterStatus): string {
  return status.Connections.map((c) => `${arrow(c.Outbound)} ${pad(c.Address, 21)} ${pad(c.State, 11)} ${c.Info}${attrsText(c.Attrs)}\n`).join('');
}

export function formatPeers(status: RouterStatus): string {
  return status.Peers.map(
    (p) =>
      `${p.Name}(${p.NickName})\n` +
      p.Connections.map(
        (c) => `   ${arrow(c.Outbound)} ${pad(c.Address, 21)} ${pad(`${c.Name}(${c.NickName})`, 37)} ${c.Established ? 'established' : 'pending'}\n`,
      ).join(''),
  ).join('');
}

/** The router block of `weave status`. */
export function formatRouterSummary(status: RouterStatus): string {
  const counts = new Map<string, number>();
  for (const c of status.Connections) counts.set(c.State, (counts.get(c.State) ?? 0) + 1);
  const order = ['established', 'pending', 'retrying', 'failed', 'connecting', 'waiting'];
  const breakdown = order.filter((s) => counts.has(s)).map((s) => `${counts.get(s)} ${s}`);
  let established = 0;
  let pending = 0;
  for (const p of status.Peers) {
    for (const c of p.Connections) {
      if (c.Established) established++;
      else pending++;
    }
  }
  const peerDetail = status.Peers.length === 0 ? '' : ` (with ${established} established${pending > 0 ? `, ${pending} pending` : ''} connections)`;
  const lines: [string, string][] = [
    ['Service', 'router'],
    ['Protocol', `${status.Protocol} ${status.ProtocolMinVersion}..${status.ProtocolMaxVersion}`],
    ['Name', `${status.Name}(${status.NickName})`],
    ['Encryption', status.Encryption ? 'enabled' : 'disabled'],
    ['PeerDiscovery', status.PeerDiscovery ? 'enabled' : 'disabled'],
    ['Targets', String(status.Targets.length)],
    ['Connections', `${status.Connections.length}${breakdown.length > 0 ? ` (${breakdown.join(', ')})` : ''}`],
    ['Peers', `${status.Peers.length}${peerDetail}`],
    ['TrustedSubnets', status.TrustedSubnets.length > 0 ? status.TrustedSubnets.join(', ') : 'none'],
  ];
  return lines.map(([k, v]) => `${k.padStart(15)}: ${v}\n`).join('');
}
