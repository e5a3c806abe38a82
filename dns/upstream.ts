// Upstream DNS servers for names outside weaveDNS's domain: the `nameserver` lines of a
// resolv.conf (Weave's --resolv-conf), re-read when the file's mtime changes, checked at most
// every 5 s, with our own listen address(es) left out so we never forward to ourselves.

import { stat, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { silentLogger, type Logger } from '../common/logger.ts';

export interface UpstreamServer {
  address: string;
  port: number;
}

/** Where the DNS server gets its upstream list from, per forwarded query. */
export interface UpstreamSource {
  servers(): Promise<UpstreamServer[]>;
}

export class StaticUpstream implements UpstreamSource {
  constructor(private readonly list: UpstreamServer[]) {}
  servers(): Promise<UpstreamServer[]> {
    return Promise.resolve([...this.list]);
  }
}

/** The nameserver addresses of a resolv.conf text, in order. */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [keyword, value] = line.split(/\s+/);
    if (keyword !== 'nameserver' || value === undefined) continue;
    const addr = value.replace(/%.*$/, ''); // drop an IPv6 zone
    if (isIP(addr) !== 0) out.push(addr);
  }
  return out;
}

const UNSPECIFIED = new Set(['0.0.0.0', '::']);

export interface ResolvConfUpstreamOptions {
  path?: string;
  /** Our DNS server's listen addresses; when one is unspecified (0.0.0.0 / ::) and we listen on
   *  the upstream port, every local interface address is ours too. */
  ownAddresses?: string[];
  /** The port we listen on: servers are only ours if they use that port too. */
  ownPort?: number;
  /** Port of the upstream servers (resolv.conf has none). */
  port?: number;
  checkIntervalMs?: number;
  logger?: Logger;
  /** Milliseconds; injectable for tests. */
  clock?: () => number;
  /** Local interface addresses; injectable for tests. */
  localAddresses?: () => string[];
}

const allLocalAddresses = (): string[] =>
  Object.values(networkInterfaces())
    .flat()
    .flatMap((i) => (i ? [i.address] : []));

export class ResolvConfUpstream implements UpstreamSource {
  readonly #path: string;
  readonly #own: string[];
  readonly #ownPort: number;
  readonly #port: number;
  readonly #intervalMs: number;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #localAddresses: () => string[];
  #servers: UpstreamServer[] = [];
  #mtimeMs = -1;
  #checkedAt = -Infinity;
  #pending: Promise<void> | undefined;

  constructor(opts: ResolvConfUpstreamOptions = {}) {
    this.#path = opts.path ?? '/etc/resolv.conf';
    this.#own = opts.ownAddresses ?? [];
    this.#ownPort = opts.ownPort ?? 53;
    this.#port = opts.port ?? 53;
    this.#intervalMs = opts.checkIntervalMs ?? 5000;
    this.#log = opts.logger ?? silentLogger();
    this.#clock = opts.clock ?? Date.now;
    this.#localAddresses = opts.localAddresses ?? allLocalAddresses;
  }

  /** The list as last read, without checking the file (for status). */
  current(): UpstreamServer[] {
    return [...this.#servers];
  }

  async servers(): Promise<UpstreamServer[]> {
    if (this.#clock() - this.#checkedAt >= this.#intervalMs) {
      this.#pending ??= this.#refresh().finally(() => (this.#pending = undefined));
    }
    // a read in progress (even one another caller started) decides the answer: the first queries
    // arrive together (A and AAAA) and must not see the empty list from before the first read
    if (this.#pending) await this.#pending;
    return [...this.#servers];
  }

  async #refresh(): Promise<void> {
    this.#checkedAt = this.#clock();
    try {
      const st = await stat(this.#path);
      if (st.mtimeMs === this.#mtimeMs) return;
      const text = await readFile(this.#path, 'utf8');
      this.#mtimeMs = st.mtimeMs;
      const ours = this.#ownSet();
      const all = parseResolvConf(text);
      const kept = this.#port === this.#ownPort ? all.filter((a) => !ours.has(a)) : all;
      this.#servers = kept.map((address) => ({ address, port: this.#port }));
      this.#log.info('upstream DNS servers', { path: this.#path, servers: kept, leftOut: all.filter((a) => !kept.includes(a)) });
    } catch (err) {
      // keep the last good list: a resolv.conf being rewritten may briefly be missing
      this.#log.warn('cannot read resolv.conf', { path: this.#path, error: err instanceof Error ? err.message : String(err) });
    }
  }

  #ownSet(): Set<string> {
    const ours = new Set(this.#own);
    if (this.#own.some((a) => UNSPECIFIED.has(a))) for (const a of this.#localAddresses()) ours.add(a);
    return ours;
  }
}
