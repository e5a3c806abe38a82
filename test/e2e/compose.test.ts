// docker-compose (Debian's 1.29) with a weave network: `driver`, `ipam.driver`, `ipam.config`
// and `driver_opts` reach the plugin; two services reach each other by IP; `down` removes every
// endpoint. Once against `weave launch` (driver "weave") on host1 and once against the managed
// plugin (driver "weave:latest") on host2, from the same compose file.
import { expect } from 'chai';
import { join } from 'node:path';
import { Lab } from '../harness/lab.ts';
import type { LabHost } from '../harness/lab-host.ts';
import { REPO_ROOT, requireBuiltCli } from '../harness/repo-root.ts';
import { requireRoot } from '../harness/require-root.ts';
import { requireTools } from '../harness/require-tools.ts';
import type { CommandResult } from '../harness/run-command.ts';
import { dockerNetwork, hostVeths, launchWeave, pingFrom, weaveStatus } from '../harness/weave-probes.ts';
import { PLUGIN, buildPluginDir, installPlugin } from './packaging-lab.ts';
import type { PluginBuild } from './packaging-lab.ts';

const COMPOSE_FILE = join(REPO_ROOT, 'test', 'e2e', 'fixtures', 'compose', 'docker-compose.yml');
const PROJECT = 'wvcompose';
const NETWORK = `${PROJECT}_app`;

function compose(h: LabHost, driver: string, ...args: string[]): Promise<CommandResult> {
  return h.exec('docker-compose', ['-p', PROJECT, '-f', COMPOSE_FILE, ...args], {
    env: { WEAVE_DRIVER: driver, WEAVE_TEST_IMAGE: 'bb' },
    timeoutMs: 60_000,
  });
}

/** Compose v1 names containers <project>_<service>_1. */
async function serviceIp(h: LabHost, service: string): Promise<string> {
  return (await h.docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${NETWORK}").IPAddress}}`, `${PROJECT}_${service}_1`)).stdout.trim();
}

describe('compose: docker-compose 1.29 with a weave network (root)', function () {
  this.timeout(120_000);
  let build: PluginBuild | undefined;
  let lab: Lab | undefined;

  before(async function () {
    requireRoot('the compose end-to-end suite');
    requireBuiltCli();
    try {
      requireTools(['docker-compose']);
    } catch (err) {
      throw new Error(`${(err as Error).message}; docker-compose 1.29 comes from Debian: apt-get install docker-compose`);
    }
    build = await buildPluginDir();
    lab = await Lab.up({ hosts: 2 });
    await launchWeave(lab.host(1), '--no-default-network');
    await installPlugin(lab.host(2), build.dir);
  });

  after(async function () {
    try {
      await lab?.down();
    } finally {
      build?.remove();
    }
  });

  for (const [k, driver, how] of [[1, 'weave', 'weave launch'], [2, PLUGIN, 'the managed plugin']] as const) {
    it(`up: two services reach each other by IP over ${how}; driver, IPAM and driver_opts reach the plugin; down removes every endpoint`, async function () {
      const h = lab!.host(k);
      await compose(h, driver, 'up', '-d');
      try {
        const net = await dockerNetwork(h, NETWORK);
        expect(net.Driver).to.equal(driver);
        expect(net.IPAM.Driver).to.equal(driver);
        expect(net.IPAM.Config[0]?.Subnet).to.equal('10.44.0.0/24');
        const mine = (await weaveStatus(h)).plugin.networks.find((n) => n.id === net.Id);
        expect(mine, 'the plugin knows the compose network').to.not.equal(undefined);
        expect(mine!.subnet).to.equal('10.44.0.0/24');
        expect(mine!.multicast, 'driver_opts works.weave.multicast=false arrived').to.equal(false);

        const web = await serviceIp(h, 'web');
        const client = await serviceIp(h, 'client');
        expect(web).to.match(/^10\.44\.0\.\d+$/);
        expect(client).to.match(/^10\.44\.0\.\d+$/);
        expect(web).to.not.equal(client);
        expect(await pingFrom(h, `${PROJECT}_client_1`, web, 2)).to.equal(true);
        expect(await pingFrom(h, `${PROJECT}_web_1`, client, 2)).to.equal(true);
        expect((await weaveStatus(h)).plugin.endpoints).to.equal(2);
        expect(await hostVeths(h)).to.have.length(2);
      } finally {
        await compose(h, driver, 'down', '--timeout', '1');
      }
      const st = await weaveStatus(h);
      expect(st.plugin.endpoints, 'endpoints after down').to.equal(0);
      expect(st.plugin.networks, 'networks after down').to.deep.equal([]);
      expect(st.ipam.pools.flatMap((p) => p.addresses), 'addresses after down').to.deep.equal([]);
      expect(await hostVeths(h), 'vethwl* after down').to.deep.equal([]);
      expect((await h.docker('network', 'ls', '-q', '--filter', `name=${NETWORK}`)).stdout.trim()).to.equal('');
    });
  }
});
