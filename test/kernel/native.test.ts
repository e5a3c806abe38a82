// The addon's syscalls against the real kernel, inside throwaway namespaces.
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNative } from '../../datapath/native/index.ts';
import type { NativeError } from '../../datapath/native/index.ts';
import { TapDevice } from '../../datapath/tap.ts';
import { setNetSysctl } from '../../datapath/sysctl.ts';
import { NETLINK_ROUTE } from '../../datapath/netlink/constants.ts';
import { RtnetlinkClient } from '../../datapath/netlink/rtnetlink/client.ts';
import { TestNetns, requireRoot } from './netns-fixture.ts';
import type { IpLink } from './netns-fixture.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function netnsOfAllThreads(): string[] {
  return fs.readdirSync('/proc/self/task').map((tid) => fs.readlinkSync(`/proc/self/task/${tid}/ns/net`));
}

function thrown(fn: () => unknown): NativeError {
  try {
    fn();
  } catch (err) {
    return err as NativeError;
  }
  throw new Error('expected an exception');
}

describe('native addon (kernel)', function () {
  const native = loadNative();
  let ns: TestNetns;

  before(function () {
    requireRoot();
    ns = new TestNetns('nat');
  });
  after(function () {
    ns?.destroy();
  });

  it('opens a netlink socket inside a namespace given by path, leaving every thread where it was', async function () {
    const before = netnsOfAllThreads();
    const ownNs = fs.readlinkSync('/proc/self/ns/net');
    const inside = RtnetlinkClient.open({ netns: ns.path });
    try {
      await inside.createBridge('wvnat0');
      expect((await inside.listLinks()).map((l) => l.name).sort()).to.deep.equal(['lo', 'wvnat0']);
    } finally {
      inside.close();
    }
    expect(ns.ipJson<IpLink[]>('link').map((l) => l.ifname)).to.include('wvnat0');
    // nothing leaked into our own namespace, and no thread stayed in the other one
    const rootNames = (JSON.parse((await execFileText('ip', ['-j', 'link'])) || '[]') as IpLink[]).map((l) => l.ifname);
    expect(rootNames).to.not.include('wvnat0');
    expect(fs.readlinkSync('/proc/self/ns/net')).to.equal(ownNs);
    for (const t of netnsOfAllThreads()) expect(t).to.equal(ownNs);
    expect(before.every((t) => t === ownNs)).to.equal(true);
  });

  it('opens a socket in the namespace of a process (/proc/<pid>/ns/net)', async function () {
    ns.ip('link', 'add', 'wvproc0', 'type', 'bridge');
    const holder = spawn('ip', ['netns', 'exec', ns.name, 'sleep', '10'], { stdio: 'ignore' });
    try {
      // `ip netns exec` execs sleep in place once it has joined the namespace
      const nsPath = `/proc/${holder.pid}/ns/net`;
      const target = fs.statSync(ns.path).ino;
      for (let i = 0; i < 50 && fs.statSync(nsPath).ino !== target; i++) await new Promise((r) => setTimeout(r, 20));
      expect(fs.statSync(nsPath).ino).to.equal(target);
      const rtnl = RtnetlinkClient.open({ netns: nsPath });
      try {
        expect((await rtnl.listLinks()).map((l) => l.name)).to.include('wvproc0');
      } finally {
        rtnl.close();
      }
    } finally {
      holder.kill();
    }
  });

  it('assigns distinct port ids', function () {
    const a = native.openNetlink(NETLINK_ROUTE, ns.path);
    const b = native.openNetlink(NETLINK_ROUTE, ns.path);
    try {
      const pa = native.netlinkPortId(a);
      const pb = native.netlinkPortId(b);
      expect(pa).to.be.greaterThan(0);
      expect(pb).to.be.greaterThan(0);
      expect(pa).to.not.equal(pb);
    } finally {
      native.closeFd(a);
      native.closeFd(b);
    }
  });

  it('turns failures into errors with code and errno', function () {
    const missing = thrown(() => native.openNetlink(NETLINK_ROUTE, '/run/netns/wv-does-not-exist'));
    expect(missing.code).to.equal('ENOENT');
    expect(missing.errno).to.equal(2);
    expect(missing.message).to.match(/wv-does-not-exist/);
    // a namespace file of the wrong kind
    const wrongKind = thrown(() => native.openNetlink(NETLINK_ROUTE, '/proc/self/ns/uts'));
    expect(wrongKind.code).to.equal('EINVAL');
    const badProto = thrown(() => native.openNetlink(9999));
    expect(badProto.code).to.equal('EPROTONOSUPPORT');
    const badFd = thrown(() => native.closeFd(987654));
    expect(badFd.code).to.equal('EBADF');
  });

  it('writes a sysctl inside the namespace only', function () {
    const rootBefore = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    native.writeFileInNetns(ns.path, '/proc/sys/net/ipv4/ip_forward', '0');
    expect(ns.exec('cat', '/proc/sys/net/ipv4/ip_forward').trim()).to.equal('0');
    native.writeFileInNetns(ns.path, '/proc/sys/net/ipv4/ip_forward', '1');
    expect(ns.exec('cat', '/proc/sys/net/ipv4/ip_forward').trim()).to.equal('1');
    expect(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).to.equal(rootBefore);
    const err = thrown(() => native.writeFileInNetns(ns.path, '/proc/sys/net/ipv4/no_such_knob', '1'));
    expect(err.code).to.equal('ENOENT');
    // the same through the sysctl helper, on a per-interface key
    setNetSysctl('ipv4.conf.lo.arp_accept', 1, { netns: ns.path });
    expect(ns.exec('cat', '/proc/sys/net/ipv4/conf/lo/arp_accept').trim()).to.equal('1');
    setNetSysctl('ipv4/conf/lo/arp_accept', 0, { netns: ns.path });
    expect(ns.exec('cat', '/proc/sys/net/ipv4/conf/lo/arp_accept').trim()).to.equal('0');
  });

  describe('TAP devices', function () {
    let handle: { close(): void } | undefined;
    let pinger: ReturnType<typeof spawn> | undefined;
    afterEach(function () {
      handle?.close();
      handle = undefined;
      if (pinger?.pid !== undefined && pinger.exitCode === null) pinger.kill();
      pinger = undefined;
    });

    it('creates a tap in a namespace that lives as long as its fd', function () {
      const tap = native.openTap('wvtap0', ns.path);
      expect(tap.name).to.equal('wvtap0');
      const [link] = ns.ipJson<(IpLink & { linkinfo?: { info_kind?: string; info_data?: { type?: string } } })[]>('-d', 'link', 'show', 'wvtap0');
      expect(link?.linkinfo?.info_kind).to.equal('tun');
      expect(link?.linkinfo?.info_data?.type).to.equal('tap');
      native.closeFd(tap.fd);
      expect(ns.ipJson<IpLink[]>('link').map((l) => l.ifname)).to.not.include('wvtap0');
    });

    it('reads frames the kernel sends out of the tap and injects frames into it (TapDevice)', async function () {
      this.timeout(10000);
      const frames: Buffer[] = [];
      let wake: (() => void) | undefined;
      const tap = TapDevice.open('wvtap1', {
        netns: ns.path,
        onFrame: (f) => {
          frames.push(f);
          wake?.();
        },
      });
      handle = tap;
      tap.ref();
      ns.ip('addr', 'add', '10.32.5.1/24', 'dev', 'wvtap1');
      ns.ip('link', 'set', 'wvtap1', 'up');
      // the kernel ARPs for 10.32.5.2 out of the tap
      pinger = spawn('ip', ['netns', 'exec', ns.name, 'busybox', 'ping', '-c', '3', '-W', '1', '10.32.5.2'], { stdio: 'ignore' });
      const isArpFor = (f: Buffer): boolean =>
        f.length >= 42 && f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 1 && f.subarray(38, 42).equals(Buffer.from([10, 32, 5, 2]));
      const deadline = Date.now() + 5000;
      while (!frames.some(isArpFor) && Date.now() < deadline) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
      const request = frames.find(isArpFor);
      expect(request, 'ARP request read from the tap').to.not.equal(undefined);
      // answer it: 10.32.5.2 is at 02:00:00:00:05:02
      const ourMac = Buffer.from([2, 0, 0, 0, 5, 2]);
      const askerMac = request!.subarray(6, 12);
      const reply = Buffer.concat([
        askerMac, ourMac, Buffer.from([0x08, 0x06]),
        Buffer.from([0, 1, 8, 0, 6, 4, 0, 2]),
        ourMac, Buffer.from([10, 32, 5, 2]),
        askerMac, Buffer.from([10, 32, 5, 1]),
      ]);
      expect(tap.send(reply)).to.equal(true);
      let neigh: { dst: string; lladdr?: string }[] = [];
      for (let i = 0; i < 40; i++) {
        neigh = ns.ipJson<{ dst: string; lladdr?: string }[]>('neigh', 'show', 'dev', 'wvtap1');
        if (neigh.some((n) => n.lladdr === '02:00:00:00:05:02')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(neigh.find((n) => n.dst === '10.32.5.2')?.lladdr).to.equal('02:00:00:00:05:02');
    });

    it('refuses a second tap with a name that is taken by another device', function () {
      ns.ip('link', 'add', 'wvtapx', 'type', 'bridge');
      const err = thrown(() => native.openTap('wvtapx', ns.path));
      expect(err.code).to.be.oneOf(['EINVAL', 'EBUSY', 'EEXIST']);
    });
  });

  it('an idle open socket does not keep the process alive; a pending request does until answered', async function () {
    this.timeout(15000);
    const script = `
      import { RtnetlinkClient } from ${JSON.stringify(path.join(repoRoot, 'datapath/netlink/rtnetlink/client.ts'))};
      const c = RtnetlinkClient.open({ netns: ${JSON.stringify(ns.path)} });
      c.listLinks().then((l) => process.stdout.write('links:' + l.length + '\\n'));
      // never closed
    `;
    const started = Date.now();
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, timeout: 10000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
    expect(out).to.match(/^links:\d+/);
    expect(Date.now() - started).to.be.lessThan(8000);
  });
});

function execFileText(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}
