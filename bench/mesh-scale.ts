// A mesh of N daemons (default 50) on daemon-only lab hosts (no dockerd): every host but the first
// is launched naming host1 only, so all other connections come from discovery through gossip.
// Measures
//   - full mesh: from the last `weave launch` returning until host1's view (the topology as
//     gossiped, polled every 100 ms) holds N peers each with N-1 established connections; then
//     every daemon's own status is checked once;
//   - idle CPU and RSS of every daemon over a quiet window (no polling meanwhile; the window
//     spans the 30 s periodic gossip);
//   - gossip bytes (sent, summed over all daemons; the router's own counters) for one topology
//     change: a peer leaving (`weave stop`) and the same peer joining again.
// Baseline in the same run: the same measures for a mesh of 2 daemons... is not meaningful for
// the full-mesh time, so the bench prints per-peer and per-connection figures beside the totals,
// which is what shows whether something grows worse than linearly per peer.
// Goals (issue 14): full mesh <= 5 s after the last start; idle CPU <= 1 % and RSS <= 64 MiB per
// daemon. Prints numbers; no pass/fail.
//   npx tsx bench/mesh-scale.ts [--peers N] [--idle-seconds S] [--concurrency C] [-- extra daemon args]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Lab } from '../test/harness/lab.ts';
import type { LabHost } from '../test/harness/lab-host.ts';
import { requireBuiltCli } from '../test/harness/repo-root.ts';
import { sleep, waitFor } from '../test/harness/wait.ts';
import { launchWeave } from '../test/harness/weave-probes.ts';

const { values, positionals } = parseArgs({
  options: {
    peers: { type: 'string', default: '50' },
    'idle-seconds': { type: 'string', default: '40' },
    concurrency: { type: 'string', default: '2' },
  },
  allowPositionals: true,
});
const N = Number(values.peers);
const idleSeconds = Number(values['idle-seconds']);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(N) || N < 2 || N > 100 || !(idleSeconds >= 5 && idleSeconds <= 300) || !Number.isInteger(concurrency) || concurrency < 1) {
  throw new Error('usage: mesh-scale.ts [--peers 2..100] [--idle-seconds 5..300] [--concurrency C] [-- daemon args]');
}
const DAEMON_ARGS = ['--no-default-network', ...positionals];

const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
const started = Date.now();
const log = (line: string): void => void process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${line}\n`);

interface View { established: number; peers: number; gossipSent: number; gossipReceived: number }

/** One daemon's own status: its established connections, the peers it knows, gossip counters. */
async function view(h: LabHost): Promise<View> {
  const script = `
require('node:http').get({ host: '127.0.0.1', port: 6784, path: '/status' }, (r) => {
  let b = ''; r.on('data', (c) => (b += c));
  r.on('end', () => {
    const s = JSON.parse(b).router;
    process.stdout.write(JSON.stringify({ established: s.Connections.filter((c) => c.State === 'established').length, peers: s.Peers.length,
      gossipSent: s.Gossip.sentBytes, gossipReceived: s.Gossip.receivedBytes }));
  });
}).on('error', (e) => { process.stderr.write(String(e)); process.exit(1); });`;
  return JSON.parse((await h.exec(process.execPath, ['-e', script], { timeoutMs: 60_000 })).stdout) as View;
}

async function inBatches<T, R>(items: T[], width: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out;
}

async function views(hosts: LabHost[]): Promise<View[]> {
  return inBatches(hosts, 6, view);
}

/** Polls host1's status API from inside host1 until its topology holds `n` peers each with
 *  n-1 established connections; resolves to the wall-clock time it first did. */
function watchFullMesh(h: LabHost, n: number, timeoutMs: number): Promise<number> {
  const script = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true });
const deadline = Date.now() + ${timeoutMs};
const once = () => http.get({ host: '127.0.0.1', port: 6784, path: '/status', agent }, (r) => {
  let b = ''; r.on('data', (c) => (b += c));
  r.on('end', () => {
    let ok = false;
    try {
      const peers = JSON.parse(b).router.Peers;
      ok = peers.length === ${n} && peers.every((p) => p.Connections.filter((c) => c.Established).length === ${n - 1});
    } catch {}
    if (ok) { process.stdout.write(String(Date.now())); agent.destroy(); return; }
    if (Date.now() > deadline) { process.stderr.write('no full mesh in time'); process.exit(1); }
    setTimeout(once, 100);
  });
}).on('error', () => { if (Date.now() > deadline) process.exit(1); setTimeout(once, 100); });
once();`;
  return h.exec(process.execPath, ['-e', script], { timeoutMs: timeoutMs + 30_000 }).then((r) => Number(r.stdout.trim()));
}

const CLK_TCK = 100;
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `median ${q(0.5).toFixed(2)}  p90 ${q(0.9).toFixed(2)}  max ${s[s.length - 1]!.toFixed(2)}`;
}

/** `weave launch` gives up after 30 s, which a daemon starting on a machine this loaded (and
 *  while dozens of peers dial it) can need: the daemon itself keeps starting, so wait for it. */
async function launch(h: LabHost, ...args: string[]): Promise<number> {
  try {
    return await launchWeave(h, ...args);
  } catch (err) {
    log(`${h.name}: ${(err as Error).message.split('\n')[0]}; waiting for the daemon`);
    await waitFor(() => view(h).then(() => true), { timeoutMs: 300_000, intervalMs: 2000, what: `${h.name}'s daemon` });
    return Number(readFileSync(join(h.files.weaveData, 'weave.pid'), 'utf8').trim());
  }
}

function sum(vs: View[], k: keyof View): number {
  return vs.reduce((a, v) => a + v[k], 0);
}

requireBuiltCli();
log(`load before: ${load()}`);
const lab = await Lab.up({ hosts: N, docker: false, log });
try {
  const hosts = lab.hosts;
  const h1 = hosts[0]!;
  const pids = new Map<LabHost, number>();
  pids.set(h1, await launch(h1, ...DAEMON_ARGS));
  const fullMesh = watchFullMesh(h1, N, 30 * 60_000);
  const t0 = Date.now();
  await inBatches(hosts.slice(1), concurrency, async (h) => {
    pids.set(h, await launch(h, ...DAEMON_ARGS, h1.address));
  });
  const lastStart = Date.now();
  log(`all ${N} launched in ${((lastStart - t0) / 1000).toFixed(1)} s; load ${load()}`);
  const meshAt = await fullMesh;
  const meshAfterLast = meshAt - lastStart;
  const meshLoad = load();
  log(`full mesh in host1's view ${meshAfterLast} ms after the last launch returned`);
  const own = await views(hosts);
  const short = own.map((v, i) => [i + 1, v.established] as const).filter(([, e]) => e !== N - 1);
  log(short.length ? `daemons short of ${N - 1} connections: ${short.map(([k, e]) => `host${k}:${e}`).join(' ')}` : `every daemon has ${N - 1} established connections`);

  // quiet window: nothing of ours polls the daemons meanwhile
  await sleep(5000);
  const idleG0 = await views(hosts);
  const idleT0 = Date.now();
  const before = new Map([...pids].map(([h, p]) => [h, cpuTicks(p)]));
  const idleLoadBefore = load();
  await sleep(idleSeconds * 1000);
  const cpuPct = hosts.map((h) => ((cpuTicks(pids.get(h)!) - before.get(h)!) / CLK_TCK / idleSeconds) * 100);
  const rss = hosts.map((h) => rssMiB(pids.get(h)!));
  const idleLoad = load();
  log(`idle window done; load ${idleLoad}`);
  const idleG1 = await views(hosts);
  // periodic full gossip (every 30 s per daemon) goes on during the changes below: its rate is
  // subtracted from their counts
  const periodicPerMs = (sum(idleG1, 'gossipSent') - sum(idleG0, 'gossipSent')) / (Date.now() - idleT0);

  // one topology change each way: the last host leaves, then joins again
  const last = hosts[N - 1]!;
  const others = hosts.slice(0, N - 1);
  const g0 = await views(others);
  const leaveT0 = Date.now();
  await last.weave('stop');
  await waitFor(async () => (await view(h1)).peers === N - 1 || undefined, { timeoutMs: 120_000, intervalMs: 500, what: 'the stopped peer gone from host1' });
  await sleep(3000);
  const g1 = await views(others);
  const leaveT1 = Date.now();
  const leaveBytes = sum(g1, 'gossipSent') - sum(g0, 'gossipSent') - periodicPerMs * ((N - 1) / N) * (leaveT1 - leaveT0);
  const rejoin = watchFullMesh(h1, N, 10 * 60_000);
  const tj = Date.now();
  pids.set(last, await launch(last, ...DAEMON_ARGS, h1.address));
  const rejoinReturned = Date.now();
  const rejoinAt = await rejoin;
  await sleep(3000);
  const g2 = await views(hosts);
  const joinBytes = sum(g2, 'gossipSent') - sum(g1, 'gossipSent') - g2[N - 1]!.gossipSent - periodicPerMs * ((N - 1) / N) * (Date.now() - leaveT1);

  const out = (s: string): void => void process.stdout.write(`${s}\n`);
  out(`\nmesh-scale bench ${new Date().toISOString()}  ${N} daemons (daemon-only lab hosts), daemon args: ${DAEMON_ARGS.join(' ')}; launch concurrency ${concurrency}`);
  out(`load (1/5/15 min): at full mesh ${meshLoad}; idle window ${idleLoadBefore} -> ${idleLoad}`);
  out(`all launched in ${((lastStart - t0) / 1000).toFixed(1)} s; full mesh ${meshAfterLast} ms after the last launch returned (goal <= 5000)`);
  out(`rejoin of one peer: full mesh ${rejoinAt - rejoinReturned} ms after its launch returned (launch took ${rejoinReturned - tj} ms)`);
  out(`idle CPU % per daemon over ${idleSeconds} s: ${stats(cpuPct)}   (goal <= 1)`);
  out(`RSS MiB per daemon:                  ${stats(rss)}   (goal <= 64)`);
  out(`gossip sent, all daemons, periodic (idle): ${(periodicPerMs * 1000 / 1024).toFixed(1)} KiB/s = ${(periodicPerMs * 1000 / N / 1024).toFixed(2)} KiB/s per daemon (subtracted below)`);
  out(`gossip sent, all daemons, one peer leaving: ${(leaveBytes / 1024).toFixed(1)} KiB = ${(leaveBytes / (N - 1) / 1024).toFixed(2)} KiB per remaining peer`);
  out(`gossip sent, all daemons, one peer joining: ${(joinBytes / 1024).toFixed(1)} KiB = ${(joinBytes / (N - 1) / 1024).toFixed(2)} KiB per other peer (+ ${(g2[N - 1]!.gossipSent / 1024).toFixed(1)} KiB from the joiner)`);
  out(`gossip sent since start, all daemons: ${(sum(g2, 'gossipSent') / 1024 / 1024).toFixed(2)} MiB = ${(sum(g2, 'gossipSent') / N / 1024).toFixed(1)} KiB per daemon`);
} finally {
  await lab.down();
}
