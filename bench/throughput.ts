// Throughput and latency between two lab hosts: our overlay next to baselines measured in the
// same run, the bare underlay and a plain kernel VXLAN tunnel between the same two hosts.
//   npx tsx bench/throughput.ts [--seconds N]
// Prints numbers; no pass/fail. The weave row needs a daemon that can join a peer
// (`weave launch <peer>`); when that fails the row says why instead of showing a number.
import { parseArgs } from 'node:util';
import { Lab } from '../test/harness/lab.ts';
import type { LabHost } from '../test/harness/lab-host.ts';
import { requireBuiltCli } from '../test/harness/repo-root.ts';
import { CommandError } from '../test/harness/run-command.ts';
import { sleep } from '../test/harness/wait.ts';
import { containerEndpoint, launchWeave, waitForDockerNetwork } from '../test/harness/weave-probes.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } });
const seconds = Number(values.seconds);
if (!Number.isInteger(seconds) || seconds < 1) throw new Error('usage: throughput.ts [--seconds N>=1]');

interface Result { gbps?: number; retransmits?: number; rttMs?: number; note?: string; detail?: string }

function parseIperf(json: string): { gbps: number; retransmits: number } {
  const r = JSON.parse(json) as { end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } }; error?: string };
  if (r.error || !r.end?.sum_received) throw new Error(`iperf3: ${r.error ?? 'no result'}`);
  return { gbps: r.end.sum_received.bits_per_second / 1e9, retransmits: r.end.sum_sent?.retransmits ?? 0 };
}

function parseRtt(out: string): number {
  const m = /= [\d.]+\/([\d.]+)\//.exec(out);
  if (!m) throw new Error(`no rtt in ping output:\n${out}`);
  return Number(m[1]);
}

/** iperf3 and ping between two endpoints, given how to run a command at either end. */
async function measure(server: (args: string[]) => Promise<unknown>, client: (args: string[]) => Promise<string>, target: string): Promise<Result> {
  const srv = server(['iperf3', '-s', '-1']);
  await sleep(500);
  const { gbps, retransmits } = parseIperf(await client(['iperf3', '-c', target, '-t', String(seconds), '-J']));
  await srv;
  const rttMs = parseRtt(await client(['ping', '-c', '20', '-i', '0.05', '-q', target]));
  return { gbps, retransmits, rttMs };
}

function inHost(h: LabHost) {
  return async (args: string[]): Promise<string> => {
    const [cmd, ...rest] = args;
    // busybox provides ping in the root filesystem too
    const r = cmd === 'ping' ? await h.exec('busybox', args, { timeoutMs: 60_000 }) : await h.exec(cmd!, rest, { timeoutMs: 60_000 });
    return r.stdout;
  };
}

function inContainer(h: LabHost, name: string) {
  return async (args: string[]): Promise<string> => (await h.exec('docker', ['exec', name, ...args], { timeoutMs: 60_000 })).stdout;
}

async function kernelVxlan(h1: LabHost, h2: LabHost): Promise<void> {
  const pairs: [LabHost, string, string][] = [[h1, h2.address, '10.44.0.1/24'], [h2, h1.address, '10.44.0.2/24']];
  for (const [h, remote, addr] of pairs) {
    await h.exec('ip', ['link', 'add', 'vxbench', 'type', 'vxlan', 'id', '4242', 'dstport', '4789', 'local', h.address, 'remote', remote, 'dev', 'eth0']);
    await h.exec('ip', ['addr', 'add', addr, 'dev', 'vxbench']);
    await h.exec('ip', ['link', 'set', 'vxbench', 'up']);
  }
}

async function weaveOverlay(h1: LabHost, h2: LabHost): Promise<Result> {
  requireBuiltCli();
  await launchWeave(h1);
  await launchWeave(h2, h1.address);
  await Promise.all([waitForDockerNetwork(h1, 'weave'), waitForDockerNetwork(h2, 'weave')]);
  // explicit addresses: with the single-peer IPAM each host would hand out the same first address
  await h1.docker('run', '-d', '--name', 'tp1', '--network', 'weave', '--ip', '10.32.1.1', 'bb', 'sleep', '3600');
  await h2.docker('run', '-d', '--name', 'tp2', '--network', 'weave', '--ip', '10.32.2.1', 'bb', 'sleep', '3600');
  const target = (await containerEndpoint(h2, 'tp2', 'weave')).IPAddress;
  const source = (await containerEndpoint(h1, 'tp1', 'weave')).IPAddress;
  // with uncoordinated IPAM both ends can get the same address; the "remote" would then be the
  // client itself and the numbers would be loopback's
  if (source === target) throw new Error(`both containers got ${target} (IPAM not coordinated across hosts); no overlay measurement`);
  return { ...(await measure(inContainer(h2, 'tp2'), inContainer(h1, 'tp1'), target)), detail: `${source} -> ${target}` };
}

async function attempt(what: () => Promise<Result>): Promise<Result> {
  try {
    return await what();
  } catch (err) {
    if (err instanceof CommandError) {
      const why = (err.result.stderr.trim() || err.result.stdout.trim()).split('\n')[0] ?? '';
      return { note: `${err.result.command.replace(/^nsenter .* -- /, '')} exited ${err.result.code}: ${why}`.slice(0, 300) };
    }
    return { note: (err as Error).message.split('\n')[0]!.slice(0, 300) };
  }
}

const lab = await Lab.up({ hosts: 2 });
try {
  const [h1, h2] = [lab.host(1), lab.host(2)];
  const rows: [string, Result][] = [];
  rows.push(['underlay (host1 -> host2)', await attempt(() => measure(inHost(h2), inHost(h1), h2.address))]);
  rows.push(['kernel vxlan (no encryption)', await attempt(async () => {
    await kernelVxlan(h1, h2);
    return measure(inHost(h2), inHost(h1), '10.44.0.2');
  })]);
  rows.push(['weave overlay (containers)', await attempt(() => weaveOverlay(h1, h2))]);

  console.log(`iperf3 TCP ${seconds} s, one stream; ping 20 x 50 ms; two lab hosts on one machine`);
  console.log(`${''.padEnd(30)}${'Gbit/s'.padStart(10)}${'retrans'.padStart(10)}${'rtt ms'.padStart(10)}`);
  for (const [name, r] of rows) {
    if (r.note !== undefined) console.log(`${name.padEnd(30)}  n/a: ${r.note}`);
    else console.log(`${name.padEnd(30)}${r.gbps!.toFixed(2).padStart(10)}${String(r.retransmits).padStart(10)}${r.rttMs!.toFixed(3).padStart(10)}${r.detail ? `  (${r.detail})` : ''}`);
  }
} finally {
  await lab.down();
}
