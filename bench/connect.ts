// Connect time: host1's daemon runs; host2's daemon is launched naming host1, and we measure until
// the connection is established at both ends (the mesh handshake done, sleeve heartbeats
// answered). Daemon-only lab hosts (no dockerd). Plain and encrypted (WEAVE_PASSWORD), N rounds
// each, host2 stopped between rounds. Two spans per round, from the daemons' own log timestamps:
//   router→est : host2's router begins (its first dial, or 'mesh router started' if earlier) →
//                established at both ends (the goal)
//   launch→est : `weave launch` invoked → established (adds the CLI, Node's start, the datapath)
// Baseline in the same run, same namespaces: a TCP connect plus three request/response round
// trips (our handshake's header, flag and features exchanges) between two Node processes, and
// the same with an X25519 agreement (what the encrypted handshake adds), median of N.
// Goal (issue 14): router→est median ≤ 100 ms plain and encrypted. Prints numbers; no pass/fail.
//   npx tsx bench/connect.ts [--rounds N]
import { readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab } from '../test/harness/lab.ts';
import type { LabHost } from '../test/harness/lab-host.ts';
import { requireBuiltCli } from '../test/harness/repo-root.ts';
import { sleep, waitFor } from '../test/harness/wait.ts';
import { DAEMON_LOG, launchWeave } from '../test/harness/weave-probes.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' } } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error('usage: connect.ts [--rounds 1..50]');

const PASSWORD = 'bench-connect-secret';

interface LogLine { message?: string; timestamp?: string; peer?: string; name?: string }

function logLines(h: LabHost, fromByte: number): LogLine[] {
  const text = readFileSync(join(h.files.weaveData, DAEMON_LOG), 'utf8').slice(fromByte);
  const out: LogLine[] = [];
  for (const l of text.split('\n')) {
    try {
      out.push(JSON.parse(l) as LogLine);
    } catch {
      // a partial last line, or the CLI's own output
    }
  }
  return out;
}

function logSize(h: LabHost): number {
  try {
    return statSync(join(h.files.weaveData, DAEMON_LOG)).size;
  } catch {
    return 0;
  }
}

function at(l: LogLine | undefined): number | undefined {
  return l?.timestamp ? Date.parse(l.timestamp) : undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function peerName(h: LabHost, from: number): Promise<string> {
  return waitFor(() => logLines(h, from).find((l) => l.message === 'mesh router started')?.name, { timeoutMs: 20_000, intervalMs: 20, what: `${h.name} router start` });
}

interface Round { launchToEst: number; routerToEst: number }

async function round(h1: LabHost, h2: LabHost, h1Name: string): Promise<Round> {
  const from1 = logSize(h1);
  const from2 = logSize(h2);
  const t0 = Date.now();
  await h2.weave('launch', '--no-default-network', '--log-level', 'debug', h1.address);
  const h2Name = await peerName(h2, from2);
  const est = await waitFor(() => {
    const e2 = at(logLines(h2, from2).find((l) => l.message === 'connection established' && l.peer === h1Name));
    const e1 = at(logLines(h1, from1).find((l) => l.message === 'connection established' && l.peer === h2Name));
    return e1 !== undefined && e2 !== undefined ? Math.max(e1, e2) : undefined;
  }, { timeoutMs: 30_000, intervalMs: 20, what: 'the connection established at both ends' });
  const lines2 = logLines(h2, from2);
  // the router dials its targets before it logs that it started
  const routerAt = Math.min(...['attempting connection', 'mesh router started'].map((m) => at(lines2.find((l) => l.message === m)) ?? Infinity));
  await h2.weave('stop');
  // host1 notices the close; let it settle so the next round starts from the same state
  await sleep(300);
  return { launchToEst: est - t0, routerToEst: est - routerAt };
}

/** TCP connect + 3 round trips (+ X25519 when `dh`), `n` times, from host2 to a server on host1. */
async function baseline(h1: LabHost, h2: LabHost, n: number, dh: boolean): Promise<number[]> {
  const port = 6799;
  const server = `
const net = require('node:net');
const s = net.createServer((c) => { c.setNoDelay(true); c.on('data', (d) => c.write(d)); c.on('error', () => {}); });
s.listen(${port}, '${h1.address}', () => process.stdout.write('up\\n'));
setTimeout(() => process.exit(0), 60000);`;
  const srv = h1.exec(process.execPath, ['-e', server], { timeoutMs: 70_000, allowFail: true });
  await sleep(500);
  const client = `
const net = require('node:net');
const crypto = require('node:crypto');
async function once() {
  const t0 = process.hrtime.bigint();
  const c = net.connect(${port}, '${h1.address}');
  c.setNoDelay(true);
  await new Promise((r, j) => { c.once('connect', r); c.once('error', j); });
  for (const size of [7, ${dh ? 33 : 1}, 200]) {
    if (size === 33 && ${dh}) {
      const a = crypto.generateKeyPairSync('x25519'); const b = crypto.generateKeyPairSync('x25519');
      crypto.diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKey });
    }
    c.write(Buffer.alloc(size));
    let got = 0;
    await new Promise((r) => { const on = (d) => { got += d.length; if (got >= size) { c.off('data', on); r(); } }; c.on('data', on); });
  }
  c.destroy();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
(async () => { const xs = []; for (let i = 0; i < ${n}; i++) xs.push(await once()); process.stdout.write(JSON.stringify(xs)); process.exit(0); })();`;
  const r = await h2.exec(process.execPath, ['-e', client], { timeoutMs: 60_000 });
  await h1.exec('sh', ['-c', `kill $(ss -Hltnp 'sport = :${port}' | sed -n 's/.*pid=\\([0-9]*\\).*/\\1/p') 2>/dev/null || true`], { allowFail: true });
  await srv;
  return JSON.parse(r.stdout) as number[];
}

requireBuiltCli();
const lab = await Lab.up({ hosts: 2, docker: false });
try {
  const [h1, h2] = [lab.host(1), lab.host(2)];
  const rows: string[] = [];
  const loads: string[] = [];
  for (const mode of ['plain', 'encrypted'] as const) {
    const from1 = logSize(h1);
    // the harness passes the environment through nsenter; the password reaches both daemons
    if (mode === 'encrypted') process.env.WEAVE_PASSWORD = PASSWORD;
    else delete process.env.WEAVE_PASSWORD;
    await launchWeave(h1, '--no-default-network', '--log-level', 'debug');
    const h1Name = await peerName(h1, from1);
    // one unmeasured round warms the page cache and the JIT
    await round(h1, h2, h1Name);
    const rs: Round[] = [];
    for (let i = 0; i < rounds; i++) rs.push(await round(h1, h2, h1Name));
    await h1.weave('stop');
    const r2e = rs.map((r) => r.routerToEst);
    const l2e = rs.map((r) => r.launchToEst);
    rows.push(`${`weave ${mode}`.padEnd(34)} router→est median ${median(r2e).toFixed(0).padStart(5)} ms  (min ${Math.min(...r2e)} max ${Math.max(...r2e)})   launch→est median ${median(l2e).toFixed(0).padStart(5)} ms`);
    loads.push(`${mode}: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  }
  delete process.env.WEAVE_PASSWORD;
  const tcp = await baseline(h1, h2, rounds, false);
  const tcpDh = await baseline(h1, h2, rounds, true);
  rows.push(`${'baseline TCP connect + 3 RTT'.padEnd(34)} median ${median(tcp).toFixed(2)} ms`);
  rows.push(`${'baseline + X25519 agreement'.padEnd(34)} median ${median(tcpDh).toFixed(2)} ms`);
  process.stdout.write(`\nconnect bench ${new Date().toISOString()}  ${rounds} rounds each; load (1/5/15 min) after ${loads.join(', ')}; now ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  for (const r of rows) process.stdout.write(`${r}\n`);
} finally {
  await lab.down();
}
