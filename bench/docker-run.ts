// Connect-time cost of our plugin: N `docker run --rm` on the weave network against the same on a
// network of Docker's own bridge driver, created in the same run on the same engine. Prints
// numbers side by side; no pass/fail (the goal is a ratio of at most 1.1x).
//   npx tsx bench/docker-run.ts [--runs N] [--warmup N]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab } from '../test/harness/lab.ts';
import type { LabHost } from '../test/harness/lab-host.ts';
import { requireBuiltCli } from '../test/harness/repo-root.ts';
import { launchWeave, waitForDockerNetwork } from '../test/harness/weave-probes.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '2' },
  },
});
const runs = Number(values.runs);
const warmup = Number(values.warmup);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(warmup) || warmup < 0) {
  throw new Error('usage: docker-run.ts [--runs N>=1] [--warmup N>=0]');
}

const BRIDGE_NET = 'bench-bridge';
/** A weave network with --internal: Docker attaches no docker_gwbridge endpoint there, so the
 *  column shows what the extra gateway endpoint costs our containers. */
const INTERNAL_NET = 'bench-weave-internal';
/** Inside the lab host only; from the RFC 2544 range like the rest of the lab. */
const BRIDGE_SUBNET = '198.19.0.0/24';
const COMMAND = ['true'];

interface Stats { n: number; median: number; mean: number; min: number; max: number; p90: number }

function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => {
    const i = (s.length - 1) * q;
    const lo = Math.floor(i);
    const hi = Math.ceil(i);
    return s[lo]! + (s[hi]! - s[lo]!) * (i - lo);
  };
  return { n: s.length, median: at(0.5), mean: s.reduce((a, b) => a + b, 0) / s.length, min: s[0]!, max: s[s.length - 1]!, p90: at(0.9) };
}

async function timeRun(h: LabHost, network: string): Promise<number> {
  const t0 = performance.now();
  await h.docker('run', '--rm', '--network', network, 'bb', ...COMMAND);
  return performance.now() - t0;
}

/** Time our plugin spent per Docker call during the measured runs, from the daemon's debug log
 *  (JSON lines with method and ms): tells our handlers' share of the difference from Docker's. */
function pluginTimeSince(logPath: string, sinceIso: string): Map<string, { calls: number; ms: number }> {
  const per = new Map<string, { calls: number; ms: number }>();
  let text = '';
  try {
    text = readFileSync(logPath, 'utf8');
  } catch {
    return per;
  }
  for (const line of text.split('\n')) {
    let rec: { message?: string; method?: string; ms?: number; timestamp?: string };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      continue;
    }
    if (rec.message !== 'plugin request' || !rec.method || typeof rec.ms !== 'number' || !rec.timestamp || rec.timestamp < sinceIso) continue;
    const e = per.get(rec.method) ?? { calls: 0, ms: 0 };
    e.calls++;
    e.ms += rec.ms;
    per.set(rec.method, e);
  }
  return per;
}

function row(label: string, cells: (string | number)[]): string {
  return label.padEnd(10) + cells.map((c) => (typeof c === 'number' ? c.toFixed(0) : c).padStart(16)).join('');
}

requireBuiltCli();
const lab = await Lab.up({ hosts: 1 });
try {
  const h = lab.host(1);
  await launchWeave(h, '--log-level', 'debug');
  await waitForDockerNetwork(h, 'weave');
  await h.docker('network', 'create', '-d', 'bridge', '--subnet', BRIDGE_SUBNET, BRIDGE_NET);
  await h.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', '--internal', INTERNAL_NET);

  for (let i = 0; i < warmup; i++) {
    await timeRun(h, 'weave');
    await timeRun(h, BRIDGE_NET);
    await timeRun(h, 'none');
    await timeRun(h, INTERNAL_NET);
  }
  // interleaved, so drift in machine load hits every variant alike
  const measuredFrom = new Date().toISOString();
  const weave: number[] = [];
  const bridge: number[] = [];
  // no network at all: what `docker run` costs before any driver is involved
  const none: number[] = [];
  const internal: number[] = [];
  for (let i = 0; i < runs; i++) {
    weave.push(await timeRun(h, 'weave'));
    bridge.push(await timeRun(h, BRIDGE_NET));
    none.push(await timeRun(h, 'none'));
    internal.push(await timeRun(h, INTERNAL_NET));
  }
  const w = stats(weave);
  const b = stats(bridge);
  const n0 = stats(none);
  const wi = stats(internal);
  console.log(`docker run --rm --network NET bb ${COMMAND.join(' ')}: ${runs} runs each (+${warmup} warm-up), interleaved, wall-clock ms`);
  console.log(row('', ['weave', 'bridge', 'weave/bridge', 'none', 'weave internal']));
  for (const k of ['median', 'mean', 'p90', 'min', 'max'] as const) {
    console.log(row(k, [w[k], b[k], `${(w[k] / b[k]).toFixed(2)}x`, n0[k], wi[k]]));
  }
  console.log(`goal: weave/bridge <= 1.10x (median ${(w.median / b.median).toFixed(2)}x, mean ${(w.mean / b.mean).toFixed(2)}x)`);
  const plugin = pluginTimeSince(join(h.files.weaveData, 'weave.log'), measuredFrom);
  if (plugin.size) {
    // both weave variants ran `runs` times
    const weaveRuns = 2 * runs;
    const total = [...plugin.values()].reduce((a, e) => a + e.ms, 0);
    const parts = [...plugin].map(([m, e]) => `${m} ${(e.ms / weaveRuns).toFixed(1)}`);
    console.log(`plugin handler time per weave run: ${(total / weaveRuns).toFixed(1)} ms (${parts.join(', ')})`);
  } else {
    console.log('plugin handler time: n/a (no "plugin request" debug lines in weave.log)');
  }
  await h.tryDocker(['network', 'rm', BRIDGE_NET, INTERNAL_NET]);
} finally {
  await lab.down();
}
