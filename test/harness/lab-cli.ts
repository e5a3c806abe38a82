// Developer tool: bring a lab up by hand and poke at it, like the reference hosts.sh.
//   npx tsx test/harness/lab-cli.ts up N [--daemon-only]
//                                             hosts host1..hostN; prints how to enter them and
//                                             keeps the lab until Ctrl-C (then tears it down);
//                                             --daemon-only: no dockerd in the hosts
//   npx tsx test/harness/lab-cli.ts sweep     remove labs of crashed runs
import { Lab } from './lab.ts';
import { sweepStaleLabs } from './stale-labs.ts';

const [cmd, arg, flag] = process.argv.slice(2);

if (cmd === 'up') {
  const lab = await Lab.up({ hosts: Number(arg ?? '1'), docker: flag !== '--daemon-only', log: (l) => console.log(l) });
  for (const h of lab.hosts) {
    console.log(`${h.name}: ${h.address} netns ${h.netns}, engine ${h.dockerSocket}, weave data ${h.files.weaveData}`);
    console.log(`  enter: nsenter ${h.nsenterArgs().join(' ')} env DOCKER_HOST=unix:///run/docker.sock sh`);
  }
  console.log('Ctrl-C tears the lab down');
  // the lab's own SIGINT/SIGTERM handlers tear it down and exit
  setInterval(() => undefined, 1 << 30);
} else if (cmd === 'sweep') {
  const { swept, problems } = sweepStaleLabs();
  console.log(swept.length ? `swept ${swept.join(', ')}` : 'no stale labs');
  for (const p of problems) console.log(`problem: ${p}`);
} else {
  console.log('usage: lab-cli.ts up N [--daemon-only] | sweep');
  process.exitCode = 2;
}
