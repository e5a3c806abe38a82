// Multicast across three emulated hosts (issue 13, acceptance): a receiver joined to a group on
// host2 and host3 gets datagrams sent from host1, on fastdp and on sleeve; with
// `works.weave.multicast=false` it does not, and broadcast (ARP) still works there.
//
// A third receiver sits on the sender's own host: once the bridge knows a local member (IGMP
// snooping), it could stop flooding the group to the overlay ports, and the remote receivers
// would go silent only when a local one exists.
//
// Sender and receivers pick their interface by address (multicast-probe.mjs), so on the
// multicast=false network only the datapath can keep datagrams from arriving: the missing
// 224.0.0.0/4 route does not stop a program that names its interface.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { requireTools } from '../harness/require-tools.ts';
import type { CommandResult } from '../harness/run-command.ts';
import { launchWeave, routerStatus } from '../harness/weave-probes.ts';
import { waitFor } from '../harness/wait.ts';

const PROBE = join(dirname(fileURLToPath(import.meta.url)), '../harness/multicast-probe.mjs');
const COUNT = 20;
/** Sleeve is best effort: a lost datagram or two is not a multicast failure. */
const AT_LEAST = 18;
/** How long each receiver listens once joined; the sender needs well under a second. */
const LISTEN_S = 5;

interface NetSpec {
  name: string;
  subnet: string;
  /** The subnet's first three octets: per-host ranges are carved from it. */
  prefix: string;
  opts: string[];
  group: string;
  port: number;
}

const NETS: NetSpec[] = [
  { name: 'mc', subnet: '10.41.0.0/24', prefix: '10.41.0', opts: [], group: '239.1.2.3', port: 5001 },
  { name: 'nomc', subnet: '10.42.0.0/24', prefix: '10.42.0', opts: ['-o', 'works.weave.multicast=false'], group: '239.1.2.4', port: 5002 },
];

/** A container on one network: where it runs, its netns (by PID) and its address there. */
interface Member {
  host: LabHost;
  name: string;
  pid: string;
  ip: string;
}

interface Received {
  member: Member;
  seqs: number[];
  out: CommandResult;
}

function phase(overlay: 'fastdp' | 'sleeve'): void {
  describe(`multicast across hosts on ${overlay} (root)`, function () {
    this.timeout(180_000);
    let lab: Lab | undefined;
    let h: LabHost[] = [];
    let readyDir = '';
    /** Receivers still running: awaited in `after`, so none outlives the lab even when a test fails. */
    const pending = new Set<Promise<unknown>>();
    /** Per network: sender on host1, then receivers on host1, host2, host3. */
    const members = new Map<string, { sender: Member; receivers: Member[] }>();

    before(async () => {
      requireTools(['nsenter']);
      readyDir = mkdtempSync(join(tmpdir(), 'wv-mcast-'));
      lab = await Lab.up({ hosts: 3 });
      h = [lab.host(1), lab.host(2), lab.host(3)];
      const extra = overlay === 'sleeve' ? ['--no-fastdp'] : [];
      await launchWeave(h[0]!, ...extra);
      await launchWeave(h[1]!, ...extra, '198.18.0.1');
      await launchWeave(h[2]!, ...extra, '198.18.0.1', '198.18.0.2');
      // Explicit, distinct ranges per host: the test does not wait for the IPAM ring to settle.
      await Promise.all(
        h.map(async (host, k) => {
          for (const n of NETS) {
            await host.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', ...n.opts, '--subnet', n.subnet, '--ip-range', `${n.prefix}.${(k + 1) * 32}/27`, n.name);
          }
        }),
      );
      for (const n of NETS) {
        const [sender, ...receivers] = await Promise.all([
          member(h[0]!, n.name, `${n.name}-s1`),
          member(h[0]!, n.name, `${n.name}-r1`),
          member(h[1]!, n.name, `${n.name}-r2`),
          member(h[2]!, n.name, `${n.name}-r3`),
        ]);
        members.set(n.name, { sender: sender!, receivers });
      }
    });

    after(async () => {
      await Promise.allSettled(pending);
      await lab?.down();
      if (readyDir) rmSync(readyDir, { recursive: true, force: true });
    });

    /** Starts receivers on every member, sends COUNT datagrams once all have joined, returns what each got. */
    async function exchange(n: NetSpec): Promise<Received[]> {
      const { sender, receivers } = members.get(n.name)!;
      const runs = receivers.map((r) => {
        const ready = join(readyDir, `${overlay}-${r.name}-${Date.now()}`);
        const run = r.host.exec('nsenter', ['-t', r.pid, '-n', process.execPath, PROBE, 'recv', n.group, String(n.port), r.ip, String(LISTEN_S), ready], {
          timeoutMs: (LISTEN_S + 30) * 1000,
          allowFail: true,
        });
        pending.add(run);
        const forget = (): boolean => pending.delete(run);
        void run.then(forget, forget);
        return { r, ready, run };
      });
      await waitFor(() => runs.every((x) => existsSync(x.ready)), { timeoutMs: 20_000, intervalMs: 20, what: `receivers on ${n.name} joined ${n.group}` });
      await sender.host.exec('nsenter', ['-t', sender.pid, '-n', process.execPath, PROBE, 'send', n.group, String(n.port), sender.ip, String(COUNT)]);
      const got: Received[] = [];
      for (const { r, run } of runs) {
        const out = await run;
        expect(out.code, `receiver ${r.name}\n${out.stderr}`).to.equal(0);
        const seqs = out.stdout
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as { seq: number; from: string })
          .filter((d) => d.from === sender.ip)
          .map((d) => d.seq);
        got.push({ member: r, seqs, out });
      }
      console.log(`      ${overlay} ${n.name}: ${got.map((g) => `${g.member.name}@${g.member.host.name} ${g.seqs.length}/${COUNT}`).join(', ')}`);
      return got;
    }

    it(`brings every connection up on ${overlay}`, async () => {
      for (const host of h) {
        await waitFor(
          async () => {
            const conns = (await routerStatus(host)).Connections.filter((c) => c.State === 'established');
            return conns.length === 2 && conns.every((c) => c.Attrs?.name === overlay);
          },
          { timeoutMs: 30_000, intervalMs: 300, what: `${host.name}: both connections established on ${overlay}` },
        );
      }
    });

    it(`delivers group datagrams from host1 to receivers on host2, host3 and host1, each once${overlay === 'fastdp' ? ', in the kernel' : ''}`, async () => {
      const sleeveBefore = await sleeveOut(h[0]!);
      const got = await exchange(NETS[0]!);
      const sleeveSent = (await sleeveOut(h[0]!)) - sleeveBefore;
      console.log(`      host1 sent ${sleeveSent} datagrams over sleeve meanwhile`);
      for (const g of got) {
        const where = `${g.member.name} on ${g.member.host.name}\n${g.out.stdout}${g.out.stderr}`;
        expect(g.seqs.length, where).to.be.at.least(AT_LEAST);
        expect(new Set(g.seqs).size, `duplicates at ${where}`).to.equal(g.seqs.length);
      }
      // on fastdp the datagrams must not have taken the user-space path as well
      if (overlay === 'fastdp') expect(sleeveSent, 'datagrams host1 sent over sleeve').to.be.lessThan(3);
    });

    it('delivers nothing on a works.weave.multicast=false network, not even to a receiver on the same host', async () => {
      const got = await exchange(NETS[1]!);
      const counts = Object.fromEntries(got.map((g) => [`${g.member.name}@${g.member.host.name}`, g.seqs.length]));
      expect(counts).to.deep.equal(Object.fromEntries(Object.keys(counts).map((k) => [k, 0])));
    });

    it('still carries broadcast (ARP) on the multicast=false network across hosts', async () => {
      const { sender, receivers } = members.get(NETS[1]!.name)!;
      // forget every neighbour so the pings below need ARP requests, which are broadcasts
      await sender.host.exec('nsenter', ['-t', sender.pid, '-n', 'ip', 'neigh', 'flush', 'all']);
      for (const r of receivers.slice(1)) {
        await r.host.exec('nsenter', ['-t', r.pid, '-n', 'ip', 'neigh', 'flush', 'all']);
        const p = await sender.host.exec('nsenter', ['-t', sender.pid, '-n', 'ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', r.ip], { allowFail: true });
        expect(p.code, `${sender.name} -> ${r.name} on ${r.host.name}\n${p.stdout}${p.stderr}`).to.equal(0);
      }
    });
  });
}

async function member(host: LabHost, network: string, name: string): Promise<Member> {
  await host.docker('run', '-d', '--name', name, '--network', network, 'bb', 'sleep', '1d');
  const pid = (await host.docker('inspect', '-f', '{{.State.Pid}}', name)).stdout.trim();
  const ip = (await host.docker('inspect', '-f', `{{.NetworkSettings.Networks.${network}.IPAddress}}`, name)).stdout.trim();
  return { host, name, pid, ip };
}

/** Frames the host's sleeve sent (daemon status). */
async function sleeveOut(h: LabHost): Promise<number> {
  const st = JSON.parse((await h.weave('status', '--json')).stdout) as { router?: { Sleeve?: { packetsOut: number } } };
  return st.router?.Sleeve?.packetsOut ?? 0;
}

phase('fastdp');
phase('sleeve');
