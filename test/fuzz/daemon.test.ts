// Fuzzes a real daemon in a two-host lab on every surface it exposes — the Docker plugin socket,
// the status API, the mesh port (TCP 6783) and the data ports (UDP 6783 sleeve, 6784 fastdp) —
// with at least 10 000 generated inputs each, then checks that nothing gave way: same daemon
// PID, every plugin error a {"Err": "..."} with a message, RSS at most 1.2x, no leaked links,
// addresses or state, the real peer connection still established and containers still pinging.
// A failure names the seed; WEAVE_FUZZ_SEED=<seed> npm run test:fuzz replays the same inputs.
import { expect } from 'chai';
import { requireTools } from '../harness/require-tools.ts';
import { waitFor } from '../harness/wait.ts';
import { daemonLogTail, pluginSocketFromRoot, weaveStatus } from '../harness/weave-probes.ts';
import { HANG_SUBNET } from './gen/plugin.ts';
import { fuzzSeed } from './gen/rng.ts';
import { FuzzLab, rssKiB, type Snapshot } from './fuzz-lab.ts';
import { cleanupPlugin, runPlugin, type RunResult } from './run.ts';

const SEED = fuzzSeed();
/** Inputs per surface; WEAVE_FUZZ_INPUTS lowers it for a quick local try, never in npm test. */
const INPUTS = Number(process.env['WEAVE_FUZZ_INPUTS'] ?? 10_000);
/** Connections held open together on 6783: the daemon's default --conn-limit. */
const CONN_LIMIT = 200;
/** How long the idle daemon gets to give back the heap of the last bursts before RSS is judged. */
const RSS_SETTLE_MS = 60_000;
/** Inputs per surface before the RSS baseline. */
const WARM_UP = 300;

function replayHint(surface: string): string {
  return `seed ${SEED} (replay: WEAVE_FUZZ_SEED=${SEED} npm run test:fuzz; input i of "${surface}" is rebuilt by Rng.forInput(${SEED}, '${surface}', i))`;
}

function report(r: RunResult): void {
  const stats = Object.entries(r.stats).map(([k, v]) => `${k}: ${v}`).join(', ');
  console.log(`      ${r.surface}: ${r.sent} inputs in ${(r.ms / 1000).toFixed(1)} s, seed ${SEED}; ${stats}`);
}

describe('fuzz: a real daemon on every surface (root)', function () {
  this.timeout(600_000);
  let f: FuzzLab | undefined;
  let baseline: Snapshot[] = [];
  const pids: number[] = [];
  const terminations: number[] = [];

  before(async () => {
    requireTools(['tcpdump', 'nsenter', 'timeout']);
    const started = Date.now();
    f = await FuzzLab.up();
    baseline = [await f.snapshot(1), await f.snapshot(2)];
    pids.push(baseline[0]!.pid, baseline[1]!.pid);
    terminations.push(await f.terminations(1), await f.terminations(2));
    await warmUp();
    baseline = [await f.snapshot(1), await f.snapshot(2)];
    console.log(`      lab up in ${((Date.now() - started) / 1000).toFixed(1)} s; daemon RSS ${baseline[0]!.rssKiB} KiB; ${replayHint('*')}`);
  });

  after(async () => {
    await f?.down();
  });

  /** RSS is compared with its value after every code path has run once (a few hundred inputs per
   *  surface): the check is about growth under load, not about the daemon's first JIT and heap. */
  async function warmUp(): Promise<void> {
    const n = String(WARM_UP);
    const r = await runPlugin(pluginSocketFromRoot(f!.host(1)), { seed: SEED ^ 0xffff, count: WARM_UP, timeMs: 60_000, concurrency: 8 });
    await cleanupPlugin(pluginSocketFromRoot(f!.host(1)), r.ledger);
    await f!.runSurface(1, ['status', '127.0.0.1:6784', n, String(SEED ^ 0xffff), '30000', '32'], 60_000);
    await f!.runSurface('wire', ['tcp', `${f!.host(1).address}:6783`, n, String(SEED ^ 0xffff), '30000', '32', '0'], 60_000);
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }

  /** The daemons are the ones we started, still running, and the real connection never dropped. */
  async function expectAlive(surface: string): Promise<void> {
    // host2 is not fuzzed and has one connection, the real one (host1 counts the fuzz's too)
    expect(await f!.terminations(2), `the real connection was terminated during the ${surface} fuzz, ${replayHint(surface)}\n${f!.connectionLog(2)}`).to.equal(terminations[1]);
    for (const k of [1, 2]) {
      let rss: number | undefined;
      try {
        rss = rssKiB(pids[k - 1]!);
      } catch {
        rss = undefined;
      }
      expect(rss, `daemon on host${k} (pid ${pids[k - 1]}) is gone after the ${surface} fuzz, ${replayHint(surface)}\n${daemonLogTail(f!.host(k))}`).to.be.a('number');
      if (k === 1) console.log(`      host1 daemon RSS after the ${surface} fuzz: ${rss} KiB`);
    }
  }

  function expectNoFailures(r: RunResult): void {
    report(r);
    const lines = r.failures.map((x) => `  input ${x.index} (${x.what}): ${x.problem}`).join('\n');
    expect(r.failures, `${r.surface} fuzz, ${replayHint(r.surface)}:\n${lines}`).to.deep.equal([]);
    expect(r.sent, `${r.surface}: inputs sent before the time cap`).to.be.at.least(INPUTS);
  }

  it('plugin protocol: every endpoint, bad bodies, huge bodies, out-of-order and duplicate calls, hang-ups', async () => {
    const socket = pluginSocketFromRoot(f!.host(1));
    const r = await runPlugin(socket, { seed: SEED, count: INPUTS, timeMs: 120_000, concurrency: 8 });
    // addresses of callers that hung up: the pool holds exactly those that were answered
    const hangPool = (await weaveStatus(f!.host(1))).ipam.pools.find((p) => p.subnet === HANG_SUBNET);
    const answered = [...new Set(r.ledger.addresses.get(hangPool?.poolId ?? '') ?? [])].sort();
    const problems = await cleanupPlugin(socket, r.ledger);
    expectNoFailures(r);
    expect([...(hangPool?.addresses ?? [])].sort(), `addresses in ${HANG_SUBNET} (RequestAddress callers hung up on some), ${replayHint('plugin')}`).to.deep.equal(answered);
    expect(problems, `cleanup after the plugin fuzz, ${replayHint('plugin')}`).to.deep.equal([]);
    await expectAlive('plugin');
  });

  it('status API: malformed HTTP, huge headers, lying lengths, slow writers', async () => {
    const r = await f!.runSurface(1, ['status', '127.0.0.1:6784', String(INPUTS), String(SEED), '60000', '32'], 180_000);
    expectNoFailures(r);
    await expectAlive('status');
  });

  it(`mesh TCP 6783: random bytes, header + junk, huge length prefixes, slow and ${CONN_LIMIT} half-open connections`, async () => {
    const r = await f!.runSurface('wire', ['tcp', `${f!.host(1).address}:6783`, String(INPUTS), String(SEED), '90000', '32', String(CONN_LIMIT)], 240_000);
    expectNoFailures(r);
    await expectAlive('tcp');
  });

  it('UDP 6783 and 6784: random datagrams, truncated and replayed sleeve frames, forged heartbeats', async () => {
    const ctx = await f!.captureContext();
    const r = await f!.runSurface('wire', ['udp', f!.host(1).address, String(INPUTS), String(SEED), '60000', '4', ctx], 120_000);
    expectNoFailures(r);
    expect(r.stats['to 6783'] ?? 0).to.be.above(0);
    expect(r.stats['to 6784'] ?? 0).to.be.above(0);
    await expectAlive('udp');
  });

  it('afterwards: same PIDs, RSS within 1.2x, no leaked links, addresses or state, peers connected, containers pinging', async () => {
    const fl = f!;
    // the overlay may have been knocked to another path by forged traffic: give it the time it
    // takes to come back by itself, but no more
    const t0 = Date.now();
    await waitFor(async () => ((await fl.established(1)) > 0 && (await fl.established(2)) > 0) || undefined, { timeoutMs: 30_000, intervalMs: 500, what: 'the peer connection established on both hosts' });
    const t1 = Date.now();
    await waitFor(async () => (await fl.pingsBothWays()) || undefined, { timeoutMs: 30_000, intervalMs: 1000, what: 'containers pinging both ways' });
    console.log(`      connection established after ${t1 - t0} ms, containers ping after ${Date.now() - t1} ms more`);
    console.log(`      host1 log: ${fl.connectionLog(1)}`);
    for (const k of [1, 2]) {
      const was = baseline[k - 1]!;
      // "after" means once the daemon is idle again: V8's memory reducer gives back the heap of
      // the last bursts some seconds after allocation calms down, sooner or later depending on
      // the machine's load. A leak never comes back down, so waiting for it costs nothing.
      const samples: number[] = [];
      const settled = Date.now();
      for (;;) {
        samples.push(rssKiB(was.pid));
        if (samples.at(-1)! <= was.rssKiB * 1.2 || Date.now() - settled > RSS_SETTLE_MS) break;
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
      const now = await fl.snapshot(k);
      const idleFor = ((Date.now() - settled) / 1000).toFixed(0);
      console.log(`      host${k}: daemon RSS ${was.rssKiB} -> ${now.rssKiB} KiB (x${(now.rssKiB / was.rssKiB).toFixed(2)}) after ${idleFor} s idle`);
      expect(now.pid, `daemon PID on host${k}`).to.equal(was.pid);
      expect(now.links, `links in host${k}`).to.deep.equal(was.links);
      expect(now.pools, `IPAM pools and addresses on host${k}`).to.deep.equal(was.pools);
      expect(now.plugin, `plugin networks and endpoints on host${k}`).to.deep.equal(was.plugin);
      expect(Object.keys(now.files), `state files on host${k}`).to.deep.equal(Object.keys(was.files));
      for (const [name, text] of Object.entries(was.files)) {
        if (/plugin|local-ipam|expose/.test(name)) expect(now.files[name], `${name} on host${k}`).to.equal(text);
      }
      expect(samples.at(-1), `RSS of the daemon on host${k} over ${idleFor} s idle (KiB, every 2 s: ${samples.join(' ')}), ${replayHint('*')}`).to.be.at.most(was.rssKiB * 1.2);
    }
  });
});
