// The encrypted-fastdp nf_tables rules in a real kernel (this one has nf_tables but no ESP, so
// the rules are checked by what they must stop): two namespaces on a veth, the rules in A for
// peer B. Marked VXLAN that no xfrm policy transforms never leaves A, and VXLAN from B that did
// not come out of an SA never reaches A's sockets; other ports are untouched.
import { spawn } from 'node:child_process';
import { expect } from 'chai';
import { ipsecRuleset, ipsecRulesetRemoval, IPSEC_TABLE } from '../../datapath/ipsec/ipsec-ruleset.ts';
import { NftablesClient } from '../../datapath/netlink/nftables/client.ts';
import { TestNetns, requireRoot, run } from './netns-fixture.ts';

const A = '198.18.0.1';
const B = '198.18.0.2';
/** Debian's interpreter, not a version manager's shim on PATH (slow, and not meant for netns). */
const PYTHON = '/usr/bin/python3';

/** Ports on which `ns` received datagrams within `ms` while `send` ran. */
async function received(ns: TestNetns, ports: number[], send: () => void, ms = 1500): Promise<number[]> {
  const script = `
import socket, select, time
socks = []
for p in [${ports.join(',')}]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', p)); socks.append((s, p))
print('ready', flush=True)
got = set(); end = time.time() + ${ms / 1000}
while time.time() < end:
    r, _, _ = select.select([s for s, _ in socks], [], [], 0.1)
    for s, p in socks:
        if s in r: s.recv(2048); got.add(p)
print(' '.join(str(p) for p in sorted(got)), flush=True)
`;
  const child = spawn('ip', ['netns', 'exec', ns.name, PYTHON, '-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let sendError: unknown;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.startsWith('ready\n') && !out.includes('sent')) {
      out += 'sent';
      try {
        send();
      } catch (err) {
        sendError = err;
      }
    }
  });
  await new Promise((resolve) => child.on('exit', resolve));
  if (sendError !== undefined) throw sendError instanceof Error ? sendError : new Error(String(sendError));
  const last = out.replace('ready\n', '').replace('sent', '').trim();
  return last === '' ? [] : last.split(' ').map(Number);
}

/** Sends 3 datagrams to each port; returns the ports whose sends the local kernel refused
 *  (EPERM: an output rule dropped them). */
let refused: number[] = [];
function sendUdp(from: TestNetns, to: string, ports: number[]): void {
  const py = [
    'import socket',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    'bad = set()',
    `for p in [${ports.join(',')}]:`,
    '    for _ in range(3):',
    '        try:',
    `            s.sendto(b'x' * 64, ('${to}', p))`,
    '        except PermissionError:',
    '            bad.add(p)',
    "print(' '.join(str(p) for p in sorted(bad)))",
  ].join('\n');
  const out = run('ip', ['netns', 'exec', from.name, PYTHON, '-c', py]).trim();
  refused = out === '' ? [] : out.split(' ').map(Number);
}

describe('encrypted fastdp rules (kernel nf_tables)', function () {
  this.timeout(60_000);
  let a: TestNetns;
  let b: TestNetns;
  let nft: NftablesClient;

  before(() => {
    requireRoot();
    a = new TestNetns('ipsa');
    b = new TestNetns('ipsb');
    a.ip('link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', b.name);
    a.ip('addr', 'add', `${A}/24`, 'dev', 'va');
    b.ip('addr', 'add', `${B}/24`, 'dev', 'vb');
    a.ip('link', 'set', 'va', 'up');
    b.ip('link', 'set', 'vb', 'up');
    nft = NftablesClient.open({ netns: a.path });
  });
  after(() => {
    nft?.close();
    a?.destroy();
    b?.destroy();
  });

  it('before the rules, both ports pass both ways', async function () {
    expect(await received(b, [6784, 6783], () => sendUdp(a, B, [6784, 6783]))).to.deep.equal([6783, 6784]);
    expect(await received(a, [6784, 6783], () => sendUdp(b, A, [6784, 6783]))).to.deep.equal([6783, 6784]);
  });

  it('loads as nft shows it', async function () {
    await nft.commit(ipsecRuleset([{ local: A, remote: B, port: 6784 }]));
    const text = a.exec('nft', 'list', 'table', 'ip', IPSEC_TABLE);
    expect(text).to.include('type route hook output priority mangle; policy accept;');
    expect(text).to.include(`ip saddr ${A} ip daddr ${B} udp dport 6784 meta mark set meta mark | 0x00020000`);
    expect(text).to.include('meta mark & 0x00020000 == 0x00020000 meta l4proto != esp rt ipsec missing drop');
    expect(text).to.include(`ip saddr ${B} ip daddr ${A} udp dport 6784 meta ipsec missing drop`);
  });

  it('with no SA and policy: marked VXLAN to B is dropped, not sent in clear; 6783 passes', async function () {
    expect(await received(b, [6784, 6783], () => sendUdp(a, B, [6784, 6783]))).to.deep.equal([6783]);
    expect(refused).to.deep.equal([6784]);
  });

  it('VXLAN from B that no SA decrypted is dropped; 6783 passes', async function () {
    expect(await received(a, [6784, 6783], () => sendUdp(b, A, [6784, 6783]))).to.deep.equal([6783]);
  });

  it('an empty peer list keeps only the guard; removal leaves nothing', async function () {
    await nft.commit(ipsecRuleset([]));
    expect(await received(a, [6784], () => sendUdp(b, A, [6784]))).to.deep.equal([6784]);
    await nft.commit(ipsecRulesetRemoval());
    await nft.commit(ipsecRulesetRemoval()); // absent: still fine
    expect(a.exec('nft', 'list', 'tables')).to.not.include(IPSEC_TABLE);
  });
});
