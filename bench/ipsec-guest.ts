// Encrypted fastdp (kernel IPsec ESP) against unencrypted fastdp and encrypted sleeve, in one
// run of the QEMU guest (test/vm): the host kernel may lack ESP, Debian's guest kernel has it.
// The guest is emulated (TCG, no KVM), so absolute numbers say nothing about real hardware;
// only the ratios within the run mean something (goal: encrypted fastdp ≥ 5 × encrypted sleeve).
//   npx tsx bench/ipsec-guest.ts [--seconds N]      (root; boots the guest, ~10 minutes)
// Each configuration: two daemons (netns on a veth underlay, ODP backend), a netns "container"
// on each bridge, iperf3 (one TCP stream) container -> container.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../test/harness/repo-root.ts';
import { waitFor } from '../test/harness/wait.ts';
import { runInVm } from '../test/vm/run-in-vm.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, 'in-guest': { type: 'boolean', default: false } } });
const seconds = Number(values.seconds);
const WEAVE = join(REPO_ROOT, 'bin', 'weave.js');
const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

interface Config {
  name: string;
  password?: string;
  extra: string[];
  path: 'fastdp' | 'sleeve';
}

const CONFIGS: Config[] = [
  { name: 'unencrypted fastdp', extra: [], path: 'fastdp' },
  { name: 'encrypted fastdp (ESP)', password: 'bench-secret', extra: [], path: 'fastdp' },
  { name: 'encrypted sleeve', password: 'bench-secret', extra: ['--no-fastdp'], path: 'sleeve' },
];

function connOn(ns: string): string | undefined {
  try {
    const st = JSON.parse(execFileSync('ip', ['netns', 'exec', ns, 'curl', '-s', '-m', '10', 'http://127.0.0.1:6784/status'], { encoding: 'utf8' })) as {
      router: { Connections: { State: string; Attrs?: { name?: string } }[] };
    };
    return st.router.Connections.find((c) => c.State === 'established')?.Attrs?.name;
  } catch {
    return undefined;
  }
}

async function measure(c: Config): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'wv-ipsec-bench-'));
  const hosts = [
    { ns: 'wv-ib-h1', c: 'wv-ib-c1', u: '198.18.0.1', o: '10.32.0.1' },
    { ns: 'wv-ib-h2', c: 'wv-ib-c2', u: '198.18.0.2', o: '10.32.0.2' },
  ];
  const daemons: ChildProcess[] = [];
  try {
    for (const h of hosts) for (const ns of [h.ns, h.c]) ip('netns', 'add', ns);
    ip('link', 'add', 'wv-u1', 'netns', 'wv-ib-h1', 'type', 'veth', 'peer', 'name', 'wv-u2', 'netns', 'wv-ib-h2');
    for (const [i, h] of hosts.entries()) {
      ip('-n', h.ns, 'addr', 'add', `${h.u}/24`, 'dev', `wv-u${i + 1}`);
      ip('-n', h.ns, 'link', 'set', `wv-u${i + 1}`, 'up');
      ip('-n', h.ns, 'link', 'set', 'lo', 'up');
      const data = join(work, h.ns);
      const args = [WEAVE, 'daemon', '--data-dir', data, '--plugin-socket', join(data, 'weave.sock'), '--docker-socket', join(data, 'none.sock'), '--no-default-network', '--no-dns'];
      args.push('--name', `02:00:00:00:00:0${i + 1}`, ...c.extra, ...(i === 1 ? [hosts[0]!.u] : []));
      daemons.push(
        spawn('sh', ['-c', `mkdir -p ${data} && exec ip netns exec ${h.ns} "$@" >${data}.log 2>&1`, 'sh', process.execPath, ...args], {
          stdio: 'ignore',
          env: { ...process.env, ...(c.password !== undefined ? { WEAVE_PASSWORD: c.password } : {}) },
        }),
      );
    }
    for (const h of hosts) await waitFor(async () => Promise.resolve(connOn(h.ns) === c.path || undefined), { timeoutMs: 300_000, intervalMs: 2000, what: `${h.ns} on ${c.path}` });
    for (const [i, h] of hosts.entries()) {
      ip('link', 'add', 'eth0', 'netns', h.c, 'type', 'veth', 'peer', 'name', `vethwl-${i}`, 'netns', h.ns);
      ip('-n', h.ns, 'link', 'set', `vethwl-${i}`, 'master', 'weave', 'up');
      ip('-n', h.c, 'addr', 'add', `${h.o}/12`, 'dev', 'eth0');
      ip('-n', h.c, 'link', 'set', 'eth0', 'mtu', '1376', 'up');
    }
    execFileSync('ip', ['netns', 'exec', 'wv-ib-c1', 'ping', '-c', '3', '-W', '10', '10.32.0.2'], { stdio: 'ignore' });
    const srv = spawn('ip', ['netns', 'exec', 'wv-ib-c2', 'iperf3', '-s', '-1'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 2000));
    const out = execFileSync('ip', ['netns', 'exec', 'wv-ib-c1', 'iperf3', '-c', '10.32.0.2', '-t', String(seconds), '-J'], { encoding: 'utf8', timeout: 300_000 });
    await new Promise((r) => srv.once('exit', r));
    if (connOn('wv-ib-h1') !== c.path) throw new Error(`${c.name}: the connection left ${c.path} during the measurement`);
    const r = JSON.parse(out) as { end?: { sum_received?: { bits_per_second: number } } };
    return (r.end?.sum_received?.bits_per_second ?? NaN) / 1e6;
  } finally {
    for (const d of daemons) d.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 5000));
    for (const d of daemons) if (d.exitCode === null) d.kill('SIGKILL');
    for (const h of hosts) {
      for (const ns of [h.ns, h.c]) {
        try {
          ip('netns', 'del', ns);
        } catch {
          // not created
        }
      }
    }
    rmSync(work, { recursive: true, force: true });
  }
}

async function inGuest(): Promise<void> {
  const mbps: number[] = [];
  for (const c of CONFIGS) {
    mbps.push(await measure(c));
    console.log(`${c.name.padEnd(24)} ${mbps.at(-1)!.toFixed(1)} Mbit/s`);
  }
  const [plain, esp, sleeve] = mbps as [number, number, number];
  console.log(`encrypted fastdp / encrypted sleeve: ${(esp / sleeve).toFixed(2)} (goal ≥ 5)`);
  console.log(`encrypted fastdp / unencrypted fastdp: ${(esp / plain).toFixed(2)}`);
  console.log('(emulated guest without KVM: absolute numbers need real hardware; only the ratios of this run mean something)');
}

if (values['in-guest']) {
  await inGuest();
} else {
  const started = new Date().toISOString();
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  const self = fileURLToPath(import.meta.url);
  const r = await runInVm([process.execPath, '--import', 'tsx', self, '--in-guest', '--seconds', String(seconds)], { cwd: REPO_ROOT, timeoutSeconds: 1800 });
  console.log(`ipsec-guest bench, ${started}, host load average ${load} (2 cores shared), iperf3 ${seconds} s one TCP stream`);
  process.stdout.write(r.stdout);
  if (r.code !== 0) throw new Error(`the guest run failed (exit ${r.code}):\n${r.stderr.slice(-4000)}`);
}
