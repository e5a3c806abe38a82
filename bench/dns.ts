// weaveDNS speed, beside Docker's embedded resolver measured in the same run on the same hosts:
//  - queries/s and p50/p99 latency from inside a container (a load loop in the container's network
//    namespace, a fixed number of queries in flight), for
//      docker  : Docker's resolver (127.0.0.11) answering a container name on its own host (the baseline)
//      weave   : weaveDNS (169.254.53.53) answering a name of a container on another host
//      via-docker: the same weave name asked of 127.0.0.11, as containers do (Docker forwards it)
//  - how long after `docker start` returns a container's name is visible on another host.
// Goals (issue 11): p99 <= 1 ms and >= 20 000 q/s for a weave name; visible on another host
// <= 500 ms. Prints numbers; no pass/fail.
//   npx tsx bench/dns.ts [--seconds N] [--inflight N] [--starts N]
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab } from '../test/harness/lab.ts';
import type { LabHost } from '../test/harness/lab-host.ts';
import { REPO_ROOT, requireBuiltCli } from '../test/harness/repo-root.ts';
import { launchWeave, pollDnsName } from '../test/harness/weave-probes.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, inflight: { type: 'string', default: '16' }, starts: { type: 'string', default: '10' } },
});
const seconds = Number(values.seconds);
const inflight = Number(values.inflight);
const starts = Number(values.starts);
if (!(seconds > 0 && seconds <= 60) || !Number.isInteger(inflight) || inflight < 1 || inflight > 256 || !Number.isInteger(starts) || starts < 1 || starts > 100) {
  throw new Error('usage: dns.ts [--seconds 1..60] [--inflight 1..256] [--starts 1..100]');
}

const DNS_ADDRESS = '169.254.53.53';

/** The load loop, run by node inside a container's network namespace: `inflight` queries
 *  outstanding, each answered one replaced at once, for `seconds`; prints {qps, p50, p99, errors}. */
const LOADER = `
const dgram = require('node:dgram');
const dnsPacket = require(${JSON.stringify(join(REPO_ROOT, 'node_modules', 'dns-packet'))});
const [server, name, seconds, inflight] = [process.argv[1], process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const sock = dgram.createSocket('udp4');
const pending = new Map();
const lat = [];
let errors = 0, nextId = 1, stop = false;
const end = Date.now() + seconds * 1000;
function send() {
  if (Date.now() >= end) { stop = true; return; }
  const id = nextId = (nextId % 65535) + 1;
  const msg = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
  pending.set(id, process.hrtime.bigint());
  sock.send(msg, 53, server);
}
sock.on('message', (m) => {
  const id = m.readUInt16BE(0);
  const t = pending.get(id);
  if (t === undefined) return;
  pending.delete(id);
  const rcode = m[3] & 0xf;
  const answers = m.readUInt16BE(6);
  if (rcode !== 0 || answers === 0) errors++;
  else lat.push(Number(process.hrtime.bigint() - t) / 1e6);
  if (!stop) send();
});
// a query lost (none should be) is retired after 2 s so the loop keeps its depth
setInterval(() => { const now = process.hrtime.bigint(); for (const [id, t] of pending) if (now - t > 2000000000n) { pending.delete(id); errors++; if (!stop) send(); } }, 200).unref();
sock.bind(0, () => {
  for (let i = 0; i < inflight; i++) send();
  const check = setInterval(() => {
    if (!stop || pending.size > 0 && Date.now() < end + 2500) return;
    clearInterval(check);
    lat.sort((a, b) => a - b);
    const q = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN;
    process.stdout.write(JSON.stringify({ qps: lat.length / seconds, p50: q(0.5), p99: q(0.99), errors, n: lat.length }));
    sock.close();
  }, 50);
});
`;

interface LoadResult { qps: number; p50: number; p99: number; errors: number; n: number }

async function containerPid(h: LabHost, name: string): Promise<number> {
  return Number((await h.docker('inspect', '-f', '{{.State.Pid}}', name)).stdout.trim());
}

async function load(h: LabHost, pid: number, server: string, name: string, depth: number): Promise<LoadResult> {
  const r = await h.exec('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, '-e', LOADER, server, name, String(seconds), String(depth)], { timeoutMs: (seconds + 30) * 1000 });
  return JSON.parse(r.stdout) as LoadResult;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

requireBuiltCli();
const lab = await Lab.up({ hosts: 2, daemonJson: { dns: [DNS_ADDRESS] } });
try {
  const [h1, h2] = [lab.host(1), lab.host(2)];
  await Promise.all([launchWeave(h1, '198.18.0.2'), launchWeave(h2, '198.18.0.1')]);
  for (const h of [h1, h2]) await h.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', '--subnet', '10.44.0.0/24', 'app');
  await h1.docker('run', '-d', '--network', 'app', '--name', 'db', 'bb', 'sleep', '1d');
  await h2.docker('run', '-d', '--network', 'app', '--name', 'client', 'bb', 'sleep', '1d');
  const dbIp = (await h1.docker('inspect', '-f', '{{.NetworkSettings.Networks.app.IPAddress}}', 'db')).stdout.trim();
  await (await pollDnsName(h2, 'db', dbIp, 'present')).at;
  const pid = await containerPid(h2, 'client');

  // depth 1 shows latency without queueing; the deeper run shows throughput (the load loop
  // shares the 2 cores with the server, so its p99 includes waiting for a core)
  const rows: [string, LoadResult][] = [];
  for (const depth of [...new Set([1, inflight])]) {
    rows.push([`docker  (127.0.0.11, local "client")      depth ${depth}`, await load(h2, pid, '127.0.0.11', 'client', depth)]);
    rows.push([`weave   (169.254.53.53, db.weave.local)   depth ${depth}`, await load(h2, pid, DNS_ADDRESS, 'db.weave.local', depth)]);
    rows.push([`via-docker (127.0.0.11, db.weave.local)   depth ${depth}`, await load(h2, pid, '127.0.0.11', 'db.weave.local', depth)]);
  }

  const visible: number[] = [];
  for (let i = 0; i < starts; i++) {
    const name = `v${i}`;
    await h1.docker('create', '--network', 'app', '--name', name, 'bb', 'sleep', '1d');
    const poll = await pollDnsName(h2, name, '*', 'present');
    await h1.docker('start', name);
    const returned = Date.now();
    visible.push((await poll.at) - returned);
    await h1.docker('rm', '-f', name);
  }

  process.stdout.write(`\nweaveDNS bench ${new Date().toISOString()}  load ${loadavg().map((l) => l.toFixed(2)).join(' ')}  ${seconds} s per row; depth = queries in flight\n`);
  for (const [label, r] of rows) {
    process.stdout.write(`${label.padEnd(52)} ${Math.round(r.qps).toString().padStart(7)} q/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  errors ${r.errors}\n`);
  }
  process.stdout.write(`name visible on host2 after docker start returned: median ${median(visible)} ms, max ${Math.max(...visible)} ms (${starts} starts)\n`);
} finally {
  await lab.down();
}
