// Sleeve (the user-space UDP data path) against plain kernel VXLAN, measured in the same run
// between the same two lab hosts:
//   1. plain kernel VXLAN: netns -> veth -> bridge -> vxlan device (UDP 4789, MTU 1376)
//   2. weave sleeve, no encryption (`weave launch --no-fastdp`), plain netns on the weave bridge,
//      with the sleeve offloads (`--sleeve-offloads`) and without (the default for now)
//   3. the same encrypted (`--password`, which also keeps the connection on sleeve)
//   npx tsx bench/sleeve.ts [--seconds N] [--rounds R]
// iperf3 (one TCP stream) and ping run inside each endpoint's netns with the host's tools. Each
// sleeve row needs its own daemons, so the rows run one after the other, each with its rounds
// interleaved with plain-vxlan rounds (the baseline moves with the machine's load).
// CPU per GB: core-seconds of the iperf3 client and server (their own time plus the kernel work
// done in their context, which on veth paths is most of the stack) plus both weave daemons,
// divided by the bytes moved; "machine" is the whole machine's busy time over the same interval
// (other work included, so only a reference). Load average is printed: the machine is shared.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs, promisify } from 'node:util';
import { Lab } from '../test/harness/lab.ts';
import type { LabHost } from '../test/harness/lab-host.ts';
import { requireBuiltCli } from '../test/harness/repo-root.ts';
import { sleep, waitFor } from '../test/harness/wait.ts';
import { launchWeave } from '../test/harness/weave-probes.ts';

const execFileP = promisify(execFile);
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
if (!(seconds >= 1 && rounds >= 1)) throw new Error('usage: sleeve.ts [--seconds N>=1] [--rounds R>=1]');
const TICK = 100; // USER_HZ for /proc/*/stat and bash `times` granularity (seconds shown to ms)

type Runner = (cmd: string, args: string[]) => Promise<string>;
function nsRunner(ns: string): Runner {
  return async (cmd, args) => (await execFileP('nsenter', [`--net=${ns}`, '--', cmd, ...args], { encoding: 'utf8', timeout: 120_000 })).stdout;
}

/** Runs iperf3 under bash and returns its output and the CPU seconds it used (bash `times`:
 *  children's user and system time). */
async function timed(ns: string, args: string[]): Promise<{ out: string; cpu: number }> {
  const script = 'iperf3 "$@" > /tmp/.wv-bench-$$; rc=$?; cat /tmp/.wv-bench-$$; rm -f /tmp/.wv-bench-$$; echo; times; exit $rc';
  const { stdout } = await execFileP('nsenter', [`--net=${ns}`, '--', 'bash', '-c', script, 'iperf3', ...args], { encoding: 'utf8', timeout: 120_000 });
  const lines = stdout.trimEnd().split('\n');
  const children = lines.pop()!; // "0m1.234s 0m2.345s" (children user, system)
  lines.pop(); // the shell's own times
  const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((a, m) => a + Number(m[1]) * 60 + Number(m[2]), 0);
  return { out: lines.join('\n'), cpu: secs };
}

function procCpu(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICK; // utime, stime
}

function machineBusy(): number {
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  const idle = cpu[3]! + cpu[4]!;
  return (cpu.reduce((a, b) => a + b, 0) - idle) / TICK;
}

interface Sample { gbps: number; rttMs: number; cpuPerGB: number; machinePerGB: number; load: number }

async function measure(serverNs: string, clientNs: string, target: string, daemons: number[]): Promise<Sample> {
  const load = os.loadavg()[0]!;
  const srv = timed(serverNs, ['-s', '-1']);
  await sleep(400);
  const d0 = daemons.reduce((a, p) => a + procCpu(p), 0);
  const m0 = machineBusy();
  const cli = await timed(clientNs, ['-c', target, '-t', String(seconds), '-J']);
  const s = await srv;
  const d1 = daemons.reduce((a, p) => a + procCpu(p), 0);
  const m1 = machineBusy();
  const r = JSON.parse(cli.out) as { end?: { sum_received?: { bits_per_second: number; bytes: number } }; error?: string };
  if (!r.end?.sum_received) throw new Error(`iperf3: ${r.error ?? 'no result'}`);
  const gb = r.end.sum_received.bytes / 1e9;
  const ping = await nsRunner(clientNs)('ping', ['-n', '-c', '200', '-i', '0.01', '-q', target]);
  const m = /= [\d.]+\/([\d.]+)\//.exec(ping);
  if (!m) throw new Error(`no rtt in ping output:\n${ping}`);
  return {
    gbps: r.end.sum_received.bits_per_second / 1e9,
    rttMs: Number(m[1]),
    cpuPerGB: (cli.cpu + s.cpu + (d1 - d0)) / gb,
    machinePerGB: (m1 - m0) / gb,
    load,
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function newNs(created: string[]): Promise<string> {
  const ns = `wv-bench-${crypto.randomBytes(3).toString('hex')}`;
  await execFileP('ip', ['netns', 'add', ns]);
  created.push(ns);
  return ns;
}

/** A bridge + vxlan device + veth into a fresh netns on host H, like fastdp's layout. */
async function plainVxlan(h: LabHost, remote: string, addr: string, created: string[]): Promise<string> {
  const ns = await newNs(created);
  const cmds: string[][] = [
    ['link', 'add', 'brplain', 'mtu', '1376', 'type', 'bridge'],
    ['link', 'add', 'vxplain', 'mtu', '1376', 'type', 'vxlan', 'id', '4242', 'dstport', '4789', 'remote', remote, 'dev', 'eth0', 'df', 'set'],
    ['link', 'set', 'vxplain', 'master', 'brplain', 'up'],
    ['link', 'add', 'vplain', 'mtu', '1376', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns],
    ['link', 'set', 'vplain', 'master', 'brplain', 'up'],
    ['link', 'set', 'brplain', 'up'],
  ];
  for (const c of cmds) await execFileP('ip', ['-n', h.netns, ...c]);
  await execFileP('ip', ['-n', ns, 'addr', 'add', addr, 'dev', 'eth0']);
  // the MTU a container on the network gets (the veth peer would otherwise keep 1500)
  await execFileP('ip', ['-n', ns, 'link', 'set', 'eth0', 'mtu', '1376', 'up']);
  await execFileP('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  return `/run/netns/${ns}`;
}

/** A netns with a veth on the weave bridge of host H (the bridge outlives daemon restarts). */
async function onWeaveBridge(h: LabHost, addr: string, created: string[]): Promise<string> {
  const ns = await newNs(created);
  await execFileP('ip', ['-n', h.netns, 'link', 'add', 'vwbench', 'mtu', '1376', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await execFileP('ip', ['-n', h.netns, 'link', 'set', 'vwbench', 'master', 'weave', 'up']);
  await execFileP('ip', ['-n', ns, 'addr', 'add', addr, 'dev', 'eth0']);
  await execFileP('ip', ['-n', ns, 'link', 'set', 'eth0', 'mtu', '1376', 'up']);
  return `/run/netns/${ns}`;
}

async function sleeveUp(h1: LabHost, h2: LabHost, extra: string[], first: boolean): Promise<number[]> {
  const p1 = await launchWeave(h1, '--no-fastdp', ...extra);
  const p2 = await launchWeave(h2, '--no-fastdp', ...extra, h1.address);
  if (first) {
    // a weave network holding the bench addresses, so the isolation rules let them through
    for (const [k, h] of [[1, h1], [2, h2]] as const) {
      await h.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', '--subnet', '10.40.0.0/16', '--ip-range', `10.40.${k}.0/24`, 'app');
    }
  }
  await waitFor(
    async () => {
      const st = JSON.parse((await h1.weave('status', '--json')).stdout) as { router?: { Connections: { State: string; Attrs?: { name?: string } }[] } };
      return st.router?.Connections.some((c) => c.State === 'established' && c.Attrs?.name === 'sleeve');
    },
    { timeoutMs: 30_000, intervalMs: 300, what: 'the connection on sleeve' },
  );
  return [p1, p2];
}

const lab = await Lab.up({ hosts: 2 });
const created: string[] = [];
try {
  requireBuiltCli();
  const [h1, h2] = [lab.host(1), lab.host(2)];
  const v1 = await plainVxlan(h1, h2.address, '10.99.0.1/24', created);
  const v2 = await plainVxlan(h2, h1.address, '10.99.0.2/24', created);

  const samples = new Map<string, Sample[]>();
  const add = (name: string, s: Sample): void => {
    samples.set(name, [...(samples.get(name) ?? []), s]);
  };
  const VX = 'plain kernel vxlan';
  let w1 = '';
  let w2 = '';
  const PLAIN = 'weave sleeve';
  const ENC = 'weave sleeve encrypted';
  const rows: [string, string[]][] = [
    [`${PLAIN} (no offloads)`, []],
    [PLAIN, ['--sleeve-offloads']],
    [`${ENC} (no offloads)`, ['--password', 'bench-secret']],
    [ENC, ['--sleeve-offloads', '--password', 'bench-secret']],
  ];
  for (const [name, extra] of rows) {
    const daemons = await sleeveUp(h1, h2, extra, !w1);
    if (!w1) {
      w1 = await onWeaveBridge(h1, '10.40.99.1/16', created);
      w2 = await onWeaveBridge(h2, '10.40.99.2/16', created);
    }
    // warm up ARP/FDB/MAC learning on both paths
    await nsRunner(w1)('ping', ['-c', '3', '-i', '0.2', '10.40.99.2']);
    await nsRunner(v1)('ping', ['-c', '3', '-i', '0.2', '10.99.0.2']);
    for (let r = 0; r < rounds; r++) {
      const order: [string, () => Promise<Sample>][] = [
        [VX, () => measure(v2, v1, '10.99.0.2', [])],
        [name, () => measure(w2, w1, '10.40.99.2', daemons)],
      ];
      if (r % 2 === 1) order.reverse();
      for (const [n, run] of order) add(n, await run());
    }
    await h1.weave('stop');
    await h2.weave('stop');
  }

  console.log(`${new Date().toISOString()}  iperf3 TCP ${seconds} s x ${rounds} rounds per phase (median), ping 200 x 10 ms; two lab hosts on one machine (${os.cpus().length} cores)`);
  console.log(`${''.padEnd(34)}${'Gbit/s'.padStart(8)}${'rtt ms'.padStart(8)}${'cpu s/GB'.padStart(10)}${'mach s/GB'.padStart(11)}${'load1'.padStart(7)}   samples (Gbit/s)`);
  for (const [name, s] of samples) {
    const med = (f: (x: Sample) => number): number => median(s.map(f));
    console.log(
      `${name.padEnd(34)}${med((x) => x.gbps).toFixed(2).padStart(8)}${med((x) => x.rttMs).toFixed(3).padStart(8)}` +
        `${med((x) => x.cpuPerGB).toFixed(2).padStart(10)}${med((x) => x.machinePerGB).toFixed(2).padStart(11)}${med((x) => x.load).toFixed(2).padStart(7)}   ${s.map((x) => x.gbps.toFixed(2)).join(' ')}`,
    );
  }
  const goal = (what: string, v: number, g: string, ok: boolean): void => console.log(`${what.padEnd(40)}${v.toFixed(3).padStart(8)}  goal ${g}  ${ok ? 'met' : 'NOT met'}`);
  const plain = samples.get(PLAIN)!;
  const enc = samples.get(ENC)!;
  goal('sleeve Gbit/s', median(plain.map((x) => x.gbps)), '>= 2', median(plain.map((x) => x.gbps)) >= 2);
  goal('sleeve encrypted Gbit/s', median(enc.map((x) => x.gbps)), '>= 1.5', median(enc.map((x) => x.gbps)) >= 1.5);
  goal('sleeve rtt ms', median(plain.map((x) => x.rttMs)), '<= 0.25', median(plain.map((x) => x.rttMs)) <= 0.25);
  goal('sleeve encrypted rtt ms', median(enc.map((x) => x.rttMs)), '<= 0.25', median(enc.map((x) => x.rttMs)) <= 0.25);
} finally {
  await lab.down();
  for (const ns of created) await execFileP('ip', ['netns', 'del', ns]).catch(() => undefined);
}
