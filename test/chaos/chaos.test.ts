// Chaos on three hosts on fastdp (issue #15): the daemon killed -9 at random points of
// `docker run`/`docker rm` loops running on all hosts, dockerd restarted, a host's underlay cut and
// healed, UDP 6784 blocked and unblocked. After every round: no orphan veth, no address leaked or
// held twice across hosts, Docker's view equal to the daemon's, and the round's own promise (traffic
// kept flowing on fastdp while the daemon was down; reconnect ≤ 10 s after a heal; fallback to
// sleeve ≤ 5 s; back on fastdp ≤ 15 s). Bounded and seeded: the seed is printed on failure and
// WEAVE_CHAOS_SEED replays it. Figures are printed for docs/reliability.md.
import { expect } from 'chai';
import { pidAlive } from '../harness/host-processes.ts';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { requireBuiltCli } from '../harness/repo-root.ts';
import { requireRoot } from '../harness/require-root.ts';
import { requireTools } from '../harness/require-tools.ts';
import { UnderlayFaults } from '../harness/underlay-faults.ts';
import { sleep, waitFor } from '../harness/wait.ts';
import { daemonLogTail, launchWeave, waitForDockerNetwork } from '../harness/weave-probes.ts';
import { pendingOrphans, snapshot, statusJson, violations } from './chaos-state.ts';
import { SeededRandom } from './seeded-random.ts';

/** Issue #15's bounds. Measured by polling the status API; SLACK covers one poll of all hosts. */
const FALLBACK_MS = 5_000;
const RETURN_MS = 15_000;
const RECONNECT_MS = 10_000;
const SLACK_MS = 1_000;
/** The plugin releases addresses orphaned by a kill 45 s after its restart (plugin-server.ts). */
const ORPHAN_GRACE_MS = 45_000;
/** Rounds of kill -9 on all three hosts (3 kills each); WEAVE_CHAOS_KILL_ROUNDS for a longer run. */
const KILL_ROUNDS = Math.max(1, Math.min(20, Number(process.env.WEAVE_CHAOS_KILL_ROUNDS ?? '1') || 1));

interface Ping { transmitted: number; received: number; out: string }

/** iputils ping inside a container's netns (busybox ping has no sub-second interval). */
async function ping(h: LabHost, pid: number, ip: string, count: number, intervalS = 0.1): Promise<Ping> {
  const r = await h.exec('nsenter', ['-t', String(pid), '-n', 'ping', '-n', '-q', '-c', String(count), '-i', String(intervalS), '-W', '1', ip], { allowFail: true, timeoutMs: 60_000 });
  const out = r.stdout + r.stderr;
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  return { transmitted: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), out };
}

describe('chaos: kill -9, dockerd restarts, underlay cuts and UDP 6784 blocks on three hosts (root)', function () {
  this.timeout(240_000);
  const rng = SeededRandom.fromEnv();
  const figures: string[] = [];
  let lab: Lab | undefined;
  let faults: UnderlayFaults;
  let h: LabHost[] = [];
  /** When each host's daemon was last relaunched after a kill (its orphan grace runs from then). */
  const relaunchedAt = new Map<string, number>();
  let round = 0;
  let kills = 0;

  const note = (line: string): void => {
    figures.push(line);
    console.log(`      ${line}`);
  };

  async function probe(k: number): Promise<{ pid: number; ip: string }> {
    const out = (await h[k]!.docker('inspect', '-f', '{{.State.Pid}} {{.NetworkSettings.Networks.weave.IPAddress}}', 'probe')).stdout.trim().split(' ');
    return { pid: Number(out[0]), ip: out[1]! };
  }

  /** Connections of host k (by the peers' nicknames) as its status shows them. */
  async function overlays(k: number): Promise<Map<string, string>> {
    const st = await statusJson(h[k]!);
    const m = new Map<string, string>();
    for (const c of st?.router?.Connections ?? []) {
      const nick = /\((host\d)\)/.exec(c.Info)?.[1];
      if (nick && c.State === 'established') m.set(nick, c.Attrs?.name ?? '?');
    }
    return m;
  }

  /** Every connection between hosts, seen from both ends, on `name` (fastdp or sleeve); only pairs
   *  involving host `only` when given. */
  async function allOn(name: string, only?: number): Promise<boolean> {
    const views = await Promise.all(h.map((_, k) => overlays(k)));
    for (let a = 0; a < h.length; a++) {
      for (let b = 0; b < h.length; b++) {
        if (a === b || (only !== undefined && a !== only && b !== only)) continue;
        if (views[a]!.get(h[b]!.name) !== name) return false;
      }
    }
    return true;
  }

  /** Waits until the three views agree (allowing announced orphans), or fails listing what does not. */
  async function settle(what: string, timeoutMs = 30_000): Promise<void> {
    let last: string[] = [];
    const ok = await waitFor(async () => {
      const snaps = await Promise.all(h.map((x) => snapshot(x)));
      const allowed = new Map(h.map((x) => [x.name, pendingOrphans(x, (relaunchedAt.get(x.name) ?? Infinity) - 5_000)]));
      last = violations(snaps, allowed);
      return last.length === 0;
    }, { timeoutMs, intervalMs: 500, what }).catch(() => false);
    if (last.length > 0) console.log(`      ${what}: still disagreeing after ${timeoutMs} ms:\n${last.map((l) => `        ${l}`).join('\n')}`);
    expect(last, `${what}: disagreements`).to.deep.equal([]);
    expect(ok).to.equal(true);
  }

  /** A loop of `docker run -d` / `docker rm -f` on host k; resolves to its failures. A run may fail
   *  when the daemon dies under it (Docker then reports the plugin's error), but none may hang. */
  async function churn(k: number, tag: string, ops: number, r: SeededRandom): Promise<{ failed: string[]; done: number }> {
    const x = h[k]!;
    const live: string[] = [];
    const failed: string[] = [];
    for (let i = 0; i < ops; i++) {
      if (live.length > 0 && r.next() < 0.4) {
        const name = live.splice(r.int(0, live.length - 1), 1)[0]!;
        const res = await x.tryDocker(['rm', '-f', name], { timeoutMs: 90_000 });
        if (res.timedOut) throw new Error(`${x.name}: docker rm -f ${name} hung`);
        if (res.code !== 0) failed.push(`rm ${name}: ${res.stderr.trim().split('\n')[0]}`);
      } else {
        const name = `${tag}-h${k + 1}-${i}`;
        const res = await x.tryDocker(['run', '-d', '--name', name, '--stop-timeout', '1', '--network', 'weave', 'bb', 'sleep', '1d'], { timeoutMs: 90_000 });
        if (res.timedOut) throw new Error(`${x.name}: docker run ${name} hung`);
        if (res.code === 0) live.push(name);
        else failed.push(`run ${name}: ${res.stderr.trim().split('\n')[0]}`);
      }
    }
    return { failed, done: ops };
  }

  const churnAll = (tag: string, ops: number): Promise<{ failed: string[]; done: number }[]> =>
    Promise.all(h.map((_, k) => churn(k, tag, ops, new SeededRandom(rng.int(0, 2 ** 32 - 1)))));

  before(async function () {
    this.timeout(180_000);
    requireRoot('the chaos suite');
    requireBuiltCli();
    requireTools(['curl', 'nft', 'nsenter', 'ping']);
    console.log(`      ${rng.replayHint()}`);
    lab = await Lab.up({ hosts: 3 });
    faults = new UnderlayFaults(lab);
    h = [lab.host(1), lab.host(2), lab.host(3)];
    await launchWeave(h[0]!);
    await Promise.all([launchWeave(h[1]!, '198.18.0.1'), launchWeave(h[2]!, '198.18.0.1', '198.18.0.2')]);
    for (const x of h) await waitForDockerNetwork(x, 'weave');
    // the mesh first: the address ring is agreed on at the first allocation, among the peers known then
    await waitFor(() => allOn('fastdp'), { timeoutMs: 60_000, intervalMs: 300, what: 'every connection on fastdp' });
    // the probes live through every round (dockerd restarts included) and carry the traffic checks
    await Promise.all(h.map((x) => x.docker('run', '-d', '--name', 'probe', '--restart', 'always', '--stop-timeout', '1', '--network', 'weave', 'bb', 'sleep', '1d')));
    await settle('the start');
  });

  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return;
    console.log(`      ${rng.replayHint()}`);
    for (const x of h) console.log(`--- ${x.name} weave.log (tail)\n${daemonLogTail(x, 25)}`);
  });

  after(async function () {
    this.timeout(180_000);
    console.log(`      summary (${rng.replayHint()}): ${round} rounds, ${kills} kills\n${figures.map((f) => `        ${f}`).join('\n')}`);
    if (lab) for (let k = 1; k <= 3; k++) await faults.clear(k).catch(() => undefined);
    await lab?.down();
  });

  interface KillOutcome { k: number; pingFrom: number; pingTo: number; restartFrom: number; restartTo: number; pings: { j: number; p: Ping }[]; line: string }

  /** Kills host k's daemon `after` ms from now, pings the other probes from its probe while it
   *  is down, relaunches it; returns what it saw (checked by the caller, which knows the others). */
  async function killAndRelaunch(k: number, after: number, downMs: number): Promise<KillOutcome> {
    const x = h[k]!;
    const others = [0, 1, 2].filter((j) => j !== k);
    const targets = await Promise.all(others.map((j) => probe(j)));
    const mine = await probe(k);
    await sleep(after);
    const { pid } = await waitFor(() => statusJson(x), { timeoutMs: 30_000, intervalMs: 500, what: `${x.name}'s daemon to kill` });
    process.kill(pid, 'SIGKILL');
    kills++;
    await waitFor(() => !pidAlive(pid), { timeoutMs: 5000, what: `${x.name}'s daemon to die` });
    // while it is down the kernel keeps forwarding, both ways, between the probes
    const pingFrom = Date.now();
    const pinged = await Promise.all(targets.map((t) => ping(x, mine.pid, t.ip, Math.floor(downMs / 100))));
    const pingTo = Date.now();
    const t0 = Date.now();
    // `weave launch` gives up waiting after 30 s (the daemon goes on starting); on this shared
    // 2-core machine under heavy load a start has taken longer, so wait on for its API then
    let slow = '';
    const launched = await x.tryWeave(['launch'], { timeoutMs: 120_000 });
    if (launched.code !== 0) {
      if (!/did not become ready/.test(launched.stderr)) throw new Error(`${x.name}: weave launch failed: ${launched.stderr}`);
      slow = ' (weave launch gave up waiting at 30 s)';
      await waitFor(() => statusJson(x), { timeoutMs: 90_000, intervalMs: 500, what: `${x.name}'s relaunched daemon to answer` });
    }
    relaunchedAt.set(x.name, Date.now());
    const pings = pinged.map((p, i) => ({ j: others[i]!, p }));
    return {
      k, pingFrom, pingTo, restartFrom: t0, restartTo: Date.now(), pings,
      line: `${x.name} killed ${after} ms in, down ${downMs} ms (pings ${pings.map(({ j, p }) => `->${h[j]!.name} ${p.received}/${p.transmitted}`).join(', ')}), relaunched in ${Date.now() - t0} ms${slow}`,
    };
  }

  /** Pings that must all have been answered: a down daemon's host keeps forwarding. Not those
   *  whose peer's daemon was restarting meanwhile: a starting daemon forwards to a peer only once
   *  it has a connection to it, and the peer's daemon is down (docs/reliability.md, finding). */
  function checkPings(outcomes: KillOutcome[]): string[] {
    const skipped: string[] = [];
    for (const o of outcomes) {
      for (const { j, p } of o.pings) {
        const peer = outcomes.find((q) => q.k === j);
        const peerRestarting = peer !== undefined && peer.restartFrom < o.pingTo && peer.restartTo > o.pingFrom;
        expect(p.transmitted, `ping ran from ${h[o.k]!.name}'s probe\n${p.out}`).to.be.greaterThan(0);
        if (peerRestarting) {
          if (p.received !== p.transmitted) skipped.push(`${h[o.k]!.name} -> ${h[j]!.name} ${p.received}/${p.transmitted} while ${h[j]!.name}'s daemon was starting`);
          continue;
        }
        expect(p.received, `pings ${h[o.k]!.name} -> ${h[j]!.name} while ${h[o.k]!.name}'s daemon was down\n${p.out}`).to.equal(p.transmitted);
      }
    }
    return skipped;
  }

  it('kill -9 on every host at random points of run/rm loops: containers keep talking on fastdp, the relaunched daemons agree with Docker', async function () {
    for (let r = 0; r < KILL_ROUNDS; r++) {
      round++;
      await waitFor(() => allOn('fastdp'), { timeoutMs: RETURN_MS, intervalMs: 300, what: `every connection on fastdp before round ${round}` });
      // all three hosts in one round, each killed at its own point (their down times may overlap)
      const plan = [0, 1, 2].map((k) => ({ k, after: rng.int(100, 3000), downMs: rng.int(1500, 3500) }));
      const t0 = Date.now();
      const loops = churnAll(`r${round}`, rng.int(3, 6));
      const seen = await Promise.all(plan.map((p) => killAndRelaunch(p.k, p.after, p.downMs)));
      const failed = (await loops).flatMap((l) => l.failed);
      const loopsMs = Date.now() - t0;
      const lost = checkPings(seen);
      await settle(`round ${round} (kill -9 on every host)`);
      note(`round ${round}: ${seen.map((o) => o.line).join('; ')}; loops done after ${loopsMs} ms, ${failed.length} docker op(s) failed${failed.length ? `: ${failed.join(' | ')}` : ''}; Docker and weave agree ${Date.now() - t0 - loopsMs} ms later${lost.length ? `; lost while the peer's daemon was starting (known): ${lost.join(', ')}` : ''}`);
    }
  });

  it('dockerd restarted under run/rm loops: the daemon stays up and agrees with Docker', async function () {
    round++;
    const k = rng.int(0, 2);
    const x = h[k]!;
    const pid = (await waitFor(() => statusJson(x), { timeoutMs: 30_000, intervalMs: 500, what: `${x.name}'s status` })).pid;
    const loops = churnAll(`r${round}`, rng.int(3, 5));
    await sleep(rng.int(100, 1500));
    const t0 = Date.now();
    await x.restartEngine();
    const restartMs = Date.now() - t0;
    await loops;
    await waitFor(async () => (await x.docker('inspect', '-f', '{{.State.Running}}', 'probe')).stdout.trim() === 'true', { timeoutMs: 30_000, what: 'the probe back (restart policy)' });
    expect((await waitFor(() => statusJson(x), { timeoutMs: 30_000, intervalMs: 500, what: `${x.name}'s status` })).pid, 'our daemon survives the engine restart').to.equal(pid);
    await settle(`round ${round} (dockerd restart on ${x.name})`);
    const me = await probe(k);
    for (const j of [0, 1, 2].filter((j) => j !== k)) {
      const t = await probe(j);
      const p = await waitFor(async () => {
        const r = await ping(x, me.pid, t.ip, 1);
        return r.received === 1 ? r : undefined;
      }, { timeoutMs: 15_000, intervalMs: 200, what: `${x.name}'s restarted probe to reach ${h[j]!.name}` });
      expect(p.received).to.equal(1);
    }
    note(`round ${round}: dockerd of ${x.name} restarted in ${restartMs} ms under run/rm loops`);
  });

  it(`a host's underlay cut and healed: reconnects within ${RECONNECT_MS / 1000} s, back on fastdp within ${RETURN_MS / 1000} s`, async function () {
    round++;
    const k = rng.int(0, 2);
    const x = h[k]!;
    const others = [0, 1, 2].filter((j) => j !== k);
    const cutMs = rng.int(6000, 9000);
    await waitFor(() => allOn('fastdp'), { timeoutMs: RETURN_MS, intervalMs: 300, what: 'every connection on fastdp' });
    const me = await probe(k);
    const targets = await Promise.all(others.map((j) => probe(j)));
    await faults.disconnect(k + 1);
    const cutAt = Date.now();
    let fallbackMs: number | undefined;
    try {
      await waitFor(() => allOn('sleeve', k), { timeoutMs: cutMs, intervalMs: 100, what: 'fallback' }).then(() => (fallbackMs = Date.now() - cutAt), () => undefined);
      await sleep(Math.max(0, cutAt + cutMs - Date.now()));
    } finally {
      await faults.reconnect(k + 1);
    }
    const healAt = Date.now();
    // reconnected: the host's connections established on both ends and its probe reaches the others
    await waitFor(async () => {
      const views = await Promise.all(h.map((_, j) => overlays(j)));
      if (!others.every((j) => views[k]!.has(h[j]!.name) && views[j]!.has(x.name))) return false;
      const ps = await Promise.all(targets.map((t) => ping(x, me.pid, t.ip, 1, 0.2)));
      return ps.every((p) => p.received === 1);
    }, { timeoutMs: 30_000, intervalMs: 100, what: `${x.name} reconnected` });
    const reconnectMs = Date.now() - healAt;
    await waitFor(() => allOn('fastdp'), { timeoutMs: 30_000, intervalMs: 100, what: 'every connection back on fastdp' });
    const returnMs = Date.now() - healAt;
    note(`round ${round}: underlay of ${x.name} cut for ${cutMs} ms: on sleeve after ${fallbackMs ?? 'never'} ms; after the heal reconnected in ${reconnectMs} ms, back on fastdp in ${returnMs} ms`);
    expect(reconnectMs, 'reconnect after heal (ms)').to.be.at.most(RECONNECT_MS + SLACK_MS);
    expect(returnMs, 'back on fastdp after heal (ms)').to.be.at.most(RETURN_MS + SLACK_MS);
    await settle(`round ${round} (cut ${x.name})`);
  });

  it(`UDP 6784 blocked and unblocked: on sleeve within ${FALLBACK_MS / 1000} s, back on fastdp within ${RETURN_MS / 1000} s`, async function () {
    round++;
    const k = rng.int(0, 2);
    const x = h[k]!;
    const holdMs = rng.int(2000, 4000);
    await waitFor(() => allOn('fastdp'), { timeoutMs: RETURN_MS, intervalMs: 300, what: 'every connection on fastdp' });
    await faults.blockUdp(k + 1, 6784);
    const blockedAt = Date.now();
    let fallbackMs: number;
    try {
      await waitFor(() => allOn('sleeve', k), { timeoutMs: 20_000, intervalMs: 100, what: `${x.name}'s connections on sleeve` });
      fallbackMs = Date.now() - blockedAt;
      const me = await probe(k);
      for (const j of [0, 1, 2].filter((j) => j !== k)) expect((await ping(x, me.pid, (await probe(j)).ip, 3)).received, 'pings over sleeve').to.equal(3);
      await sleep(holdMs);
    } finally {
      await faults.clear(k + 1);
    }
    const clearedAt = Date.now();
    await waitFor(() => allOn('fastdp'), { timeoutMs: 30_000, intervalMs: 100, what: 'every connection back on fastdp' });
    const returnMs = Date.now() - clearedAt;
    note(`round ${round}: UDP 6784 blocked on ${x.name}: on sleeve after ${fallbackMs} ms; unblocked after ${holdMs} ms more, back on fastdp in ${returnMs} ms`);
    expect(fallbackMs, 'fallback to sleeve (ms)').to.be.at.most(FALLBACK_MS + SLACK_MS);
    expect(returnMs, 'back on fastdp (ms)').to.be.at.most(RETURN_MS + SLACK_MS);
    await settle(`round ${round} (UDP block on ${x.name})`);
  });

  it('leaks nothing once the grace after the last kill is over: IPAM holds exactly the running endpoints', async function () {
    this.timeout(120_000);
    const last = Math.max(0, ...relaunchedAt.values());
    await sleep(Math.max(0, last + ORPHAN_GRACE_MS + 2_000 - Date.now()));
    let left: string[] = [];
    await waitFor(async () => {
      left = violations(await Promise.all(h.map((x) => snapshot(x))));
      return left.length === 0;
    }, { timeoutMs: 15_000, intervalMs: 500, what: 'no orphan left' }).catch(() => undefined);
    expect(left).to.deep.equal([]);
    // every probe still reaches every other
    for (let a = 0; a < 3; a++) {
      const me = await probe(a);
      for (let b = 0; b < 3; b++) {
        if (a === b) continue;
        expect((await ping(h[a]!, me.pid, (await probe(b)).ip, 2)).received, `probe ${h[a]!.name} -> ${h[b]!.name}`).to.equal(2);
      }
    }
  });
});
