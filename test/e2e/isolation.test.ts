// Isolation between weave networks on two hosts, on fastdp and on sleeve: a container of network
// `a` reaches no container of `b` or of the default network `weave` (Weave's single segment),
// on its own host or the other — not by ping, not with an address forged in `b`'s subnet, not by
// ARP — while containers of one network still reach each other both ways. Bad `-o` values are
// refused with a clear error.
import { expect } from 'chai';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { launchWeave, pingFrom, routerStatus, waitForDockerNetwork } from '../harness/weave-probes.ts';
import { waitFor } from '../harness/wait.ts';

const NETS = [
  { name: 'a', subnet: '10.51.0.0/24', prefix: '10.51.0' },
  { name: 'b', subnet: '10.52.0.0/24', prefix: '10.52.0' },
] as const;

async function ipOn(h: LabHost, container: string, network: string): Promise<string> {
  return (await h.docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container)).stdout.trim();
}

/** The container's interface on the weave network whose address starts with `prefix`. */
async function ifaceWith(h: LabHost, container: string, prefix: string): Promise<string> {
  const out = (await h.docker('exec', container, 'ip', '-o', '-4', 'addr', 'show')).stdout;
  const line = out.split('\n').find((l) => l.includes(` ${prefix}`));
  const m = /^\d+:\s+([^\s@]+)/.exec(line ?? '');
  if (m === null) throw new Error(`no interface with ${prefix} in ${container}: ${out}`);
  return m[1]!;
}

async function pingVia(h: LabHost, container: string, ip: string, source: string): Promise<boolean> {
  const r = await h.tryDocker(['exec', container, 'ping', '-c', '2', '-W', '1', '-I', source, ip], { timeoutMs: 15_000 });
  return r.code === 0 && / [12] packets received/.test(r.stdout);
}

function phase(overlay: 'fastdp' | 'sleeve'): void {
  describe(`isolation between networks on ${overlay} (root)`, function () {
    this.timeout(240_000);
    let lab: Lab | undefined;
    let h: LabHost[] = [];
    /** container name -> [host, address] */
    const where = new Map<string, [LabHost, string]>();
    const ip = (c: string): string => where.get(c)![1];

    before(async () => {
      lab = await Lab.up({ hosts: 2 });
      h = [lab.host(1), lab.host(2)];
      const extra = overlay === 'sleeve' ? ['--no-fastdp'] : [];
      await launchWeave(h[0]!, ...extra);
      await launchWeave(h[1]!, ...extra, '198.18.0.1');
      await waitFor(
        async () => {
          const conns = (await routerStatus(h[0]!)).Connections.filter((c) => c.State === 'established');
          return conns.length === 1 && (overlay === 'sleeve' || conns[0]!.Attrs?.name === 'fastdp');
        },
        { timeoutMs: 30_000, intervalMs: 200, what: `host1 connected to host2 on ${overlay}` },
      );
      await Promise.all(
        h.map(async (host, k) => {
          await waitForDockerNetwork(host, 'weave');
          for (const n of NETS) {
            await host.docker('network', 'create', '-d', 'weave', '--ipam-driver', 'weave', '--subnet', n.subnet, '--ip-range', `${n.prefix}.${(k + 1) * 64}/26`, n.name);
          }
          // NET_ADMIN: the containers of `a` try to forge their way into `b`
          for (const net of ['a', 'b', 'weave']) {
            const name = `${net}${k + 1}`;
            await host.docker('run', '-d', '--name', name, '--cap-add', 'NET_ADMIN', '--network', net, 'bb', 'sleep', '1d');
            where.set(name, [host, await ipOn(host, name, net)]);
          }
        }),
      );
    });

    after(async () => {
      await lab?.down();
    });

    it('lets containers of the same network reach each other both ways, across hosts (also on the default network)', async () => {
      for (const net of ['a', 'b', 'weave']) {
        expect(await pingFrom(h[0]!, `${net}1`, ip(`${net}2`)), `${net}1 -> ${net}2`).to.equal(true);
        expect(await pingFrom(h[1]!, `${net}2`, ip(`${net}1`)), `${net}2 -> ${net}1`).to.equal(true);
      }
    });

    it('keeps a container of `a` from `b` and `weave` on both hosts, even with a route onto their subnets', async () => {
      const iface = await ifaceWith(h[0]!, 'a1', '10.51.0.');
      // On-link routes: a1 now ARPs for the other networks' addresses on its weave interface.
      await h[0]!.docker('exec', 'a1', 'ip', 'route', 'add', '10.52.0.0/24', 'dev', iface);
      await h[0]!.docker('exec', 'a1', 'ip', 'route', 'add', '10.32.0.0/16', 'dev', iface);
      try {
        for (const target of ['b1', 'b2', 'weave1', 'weave2']) {
          expect(await pingFrom(h[0]!, 'a1', ip(target)), `a1 -> ${target}`).to.equal(false);
        }
        // busybox arping: no answer to "who has <b's address>" from inside `a`
        for (const target of ['b1', 'b2']) {
          const r = await h[0]!.tryDocker(['exec', 'a1', 'arping', '-c', '2', '-w', '2', '-I', iface, ip(target)], { timeoutMs: 15_000 });
          expect(r.stdout, `arping ${target}`).to.match(/Received 0 response/);
        }
      } finally {
        await h[0]!.docker('exec', 'a1', 'ip', 'route', 'del', '10.52.0.0/24', 'dev', iface);
        await h[0]!.docker('exec', 'a1', 'ip', 'route', 'del', '10.32.0.0/16', 'dev', iface);
      }
    });

    it('keeps it out with an address forged in `b`\'s subnet, while a second address in its own subnet works', async () => {
      const iface = await ifaceWith(h[0]!, 'a1', '10.51.0.');
      // The method works: a second address of a1's own network reaches a2 on the other host.
      await h[0]!.docker('exec', 'a1', 'ip', 'addr', 'add', '10.51.0.250/24', 'dev', iface);
      await h[0]!.docker('exec', 'a1', 'ip', 'addr', 'add', '10.52.0.250/24', 'dev', iface);
      try {
        expect(await pingVia(h[0]!, 'a1', ip('a2'), '10.51.0.250'), 'own-subnet second address -> a2').to.equal(true);
        for (const target of ['b1', 'b2']) expect(await pingVia(h[0]!, 'a1', ip(target), '10.52.0.250'), `forged -> ${target}`).to.equal(false);
        // and nothing of b learned a1's forged address
        for (const [c, host] of [['b1', h[0]!], ['b2', h[1]!]] as const) {
          const neigh = (await host.docker('exec', c, 'ip', 'neigh', 'show')).stdout;
          expect(neigh, `${c}'s neighbours`).to.not.include('10.52.0.250 dev');
        }
      } finally {
        await h[0]!.docker('exec', 'a1', 'ip', 'addr', 'del', '10.51.0.250/24', 'dev', iface);
        await h[0]!.docker('exec', 'a1', 'ip', 'addr', 'del', '10.52.0.250/24', 'dev', iface);
      }
    });

    it('keeps the default network out of `a` the same way', async () => {
      const iface = await ifaceWith(h[1]!, 'weave2', '10.32.');
      await h[1]!.docker('exec', 'weave2', 'ip', 'addr', 'add', '10.51.0.251/24', 'dev', iface);
      try {
        for (const target of ['a1', 'a2']) expect(await pingVia(h[1]!, 'weave2', ip(target), '10.51.0.251'), `weave2 forged -> ${target}`).to.equal(false);
      } finally {
        await h[1]!.docker('exec', 'weave2', 'ip', 'addr', 'del', '10.51.0.251/24', 'dev', iface);
      }
    });

    if (overlay === 'fastdp') {
      it('refuses bad -o values with a clear error and creates nothing', async () => {
        for (const [opt, msg] of [
          ['works.weave.multicast=maybe', /works\.weave\.multicast="maybe": expected true or false/],
          ['works.weave.multicst=true', /unknown option works\.weave\.multicst/],
        ] as const) {
          const r = await h[0]!.tryDocker(['network', 'create', '-d', 'weave', '--ipam-driver', 'weave', '--subnet', '10.53.0.0/24', '-o', opt, 'bad']);
          expect(r.code, opt).to.not.equal(0);
          expect(r.stderr, opt).to.match(msg);
        }
        expect((await h[0]!.docker('network', 'ls', '--format', '{{.Name}}')).stdout.split('\n')).to.not.include('bad');
      });
    }
  });
}

phase('fastdp');
phase('sleeve');
