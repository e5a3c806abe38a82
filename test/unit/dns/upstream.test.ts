// Upstream servers from a resolv.conf: parsing, own-address filtering, mtime-driven re-reads.
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { parseResolvConf, ResolvConfUpstream } from '../../../dns/upstream.ts';

describe('dns/upstream', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'weave-dns-'));
    path = join(dir, 'resolv.conf');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('parses nameserver lines, skipping comments, options and junk', () => {
    const text = '# c\nsearch example\nnameserver 10.0.0.2 # main\nnameserver   fe80::1%eth0\nnameserver bogus\n;nameserver 9.9.9.9\noptions ndots:2\nnameserver 10.0.0.3';
    expect(parseResolvConf(text)).to.deep.equal(['10.0.0.2', 'fe80::1', '10.0.0.3']);
  });

  it('leaves out our own listen address, and local addresses when we listen on 0.0.0.0', async () => {
    writeFileSync(path, 'nameserver 172.17.0.1\nnameserver 10.0.0.2\nnameserver 192.168.5.5\n');
    const exact = new ResolvConfUpstream({ path, ownAddresses: ['172.17.0.1'] });
    expect((await exact.servers()).map((s) => s.address)).to.deep.equal(['10.0.0.2', '192.168.5.5']);
    const any = new ResolvConfUpstream({ path, ownAddresses: ['0.0.0.0'], localAddresses: () => ['127.0.0.1', '192.168.5.5'] });
    expect(await any.servers()).to.deep.equal([
      { address: '172.17.0.1', port: 53 },
      { address: '10.0.0.2', port: 53 },
    ]);
    // listening on another port: the resolv.conf servers cannot be us
    const otherPort = new ResolvConfUpstream({ path, ownAddresses: ['172.17.0.1'], ownPort: 5353 });
    expect(await otherPort.servers()).to.have.length(3);
  });

  it('callers that arrive together during the first read all get its servers, not an empty list', async () => {
    writeFileSync(path, 'nameserver 198.18.0.254\n');
    const u = new ResolvConfUpstream({ path });
    const [a, b, c] = await Promise.all([u.servers(), u.servers(), u.servers()]);
    for (const list of [a, b, c]) expect(list.map((s) => s.address)).to.deep.equal(['198.18.0.254']);
  });

  it('re-reads the file only when its mtime changed, at most every 5 s', async () => {
    let clock = 0;
    writeFileSync(path, 'nameserver 10.0.0.1\n');
    utimesSync(path, 1000, 1000);
    const up = new ResolvConfUpstream({ path, clock: () => clock });
    expect((await up.servers()).map((s) => s.address)).to.deep.equal(['10.0.0.1']);
    writeFileSync(path, 'nameserver 10.0.0.2\n');
    utimesSync(path, 2000, 2000);
    clock = 4999;
    expect((await up.servers()).map((s) => s.address)).to.deep.equal(['10.0.0.1']);
    clock = 5000;
    expect((await up.servers()).map((s) => s.address)).to.deep.equal(['10.0.0.2']);
    // same mtime: not re-read even though the content changed
    writeFileSync(path, 'nameserver 10.0.0.3\n');
    utimesSync(path, 2000, 2000);
    clock = 20000;
    expect((await up.servers()).map((s) => s.address)).to.deep.equal(['10.0.0.2']);
    // a missing file keeps the last list
    rmSync(path);
    clock = 30000;
    expect((await up.servers()).map((s) => s.address)).to.deep.equal(['10.0.0.2']);
  });
});
