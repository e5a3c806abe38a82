import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatPeerName,
  parsePeerName,
  peerNameFromBigInt,
  peerNameFromSystemId,
  peerNameToBigInt,
  randomPeerName,
  randomShortId,
  randomUid,
  readSystemId,
  resolvePeerName,
} from '../../../../router/mesh/peer-name.ts';

describe('mesh peer names', () => {
  it('parses canonical and upper-case names', () => {
    expect(parsePeerName('CE:31:E0:06:45:1A')).to.equal('ce:31:e0:06:45:1a');
    expect(parsePeerName('a:b:c:d:e:f')).to.equal('0a:0b:0c:0d:0e:0f');
  });

  it('expands :: to one or more zero groups anywhere', () => {
    expect(parsePeerName('::')).to.equal('00:00:00:00:00:00');
    expect(parsePeerName('::1')).to.equal('00:00:00:00:00:01');
    expect(parsePeerName('12::')).to.equal('12:00:00:00:00:00');
    expect(parsePeerName('12::34')).to.equal('12:00:00:00:00:34');
    expect(parsePeerName('::2:3:4:5:6')).to.equal('00:02:03:04:05:06');
    expect(parsePeerName('1:2::5:6')).to.equal('01:02:00:00:05:06');
  });

  it('rejects malformed names', () => {
    for (const bad of ['', '1:2:3:4:5', '1:2:3:4:5:6:7', '1::2::3', '1:2:3::4:5:6', '123:4:5:6:7:8', 'zz:00:00:00:00:00', '1:2:3:4:5:']) {
      expect(() => parsePeerName(bad), bad).to.throw(/invalid peer name/);
    }
  });

  it('converts to and from 48-bit integers', () => {
    expect(peerNameToBigInt('00:00:00:00:01:00')).to.equal(256n);
    expect(peerNameFromBigInt(0xce31e006451an)).to.equal('ce:31:e0:06:45:1a');
    expect(() => peerNameFromBigInt(1n << 48n)).to.throw();
  });

  it('derives the name from the system identity as Weave does', () => {
    const id = Buffer.from('0123456789abcdef0123456789abcdef\nDEADBEEF-0000-1111-2222-333344445555\n');
    const sum = createHash('sha256').update('9oBJ0Jmip-').update(id).digest();
    const expected = Buffer.from(sum.subarray(0, 6));
    expected[0] = (expected[0]! & 0xfe) | 0x02;
    const name = peerNameFromSystemId(id);
    expect(name).to.equal(formatPeerName(expected));
    const first = parseInt(name.slice(0, 2), 16);
    expect(first & 1, 'multicast bit').to.equal(0);
    expect(first & 2, 'local bit').to.equal(2);
  });

  it('random names are unicast and locally administered', () => {
    expect(randomPeerName(() => Buffer.from([0xff, 1, 2, 3, 4, 5]))).to.equal('fe:01:02:03:04:05');
    expect(randomPeerName(() => Buffer.from([0x00, 1, 2, 3, 4, 5]))).to.equal('02:01:02:03:04:05');
  });

  it('reads machine-id then product_uuid, with the fallbacks', async () => {
    const files: Record<string, string> = {
      '/h/var/lib/dbus/machine-id': 'dbus\n',
      '/h/sys/hypervisor/uuid': 'hv\n',
    };
    const read = async (p: string): Promise<Buffer> => {
      const v = files[p];
      if (v === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      return Buffer.from(v);
    };
    expect((await readSystemId('/h', read))?.toString()).to.equal('dbus\nhv\n');
    files['/h/etc/machine-id'] = 'sd\n';
    files['/h/sys/class/dmi/id/product_uuid'] = 'dmi\n';
    expect((await readSystemId('/h', read))?.toString()).to.equal('sd\ndmi\n');
    expect(await readSystemId('/none', read)).to.equal(undefined);
  });

  describe('resolvePeerName', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'mesh-name-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });
    const noFiles = async (): Promise<Buffer> => {
      throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    };

    it('falls back to a random name and keeps it across restarts', async () => {
      const first = await resolvePeerName({ dataDir: dir, readFile: noFiles, randomBytes: () => Buffer.from([1, 2, 3, 4, 5, 6]) });
      expect(first).to.deep.equal({ name: '02:02:03:04:05:06', source: 'random' });
      expect(JSON.parse(await readFile(join(dir, 'peer.json'), 'utf8'))).to.deep.equal({ name: '02:02:03:04:05:06' });
      const second = await resolvePeerName({ dataDir: dir, readFile: noFiles, randomBytes: () => Buffer.from([9, 9, 9, 9, 9, 9]) });
      expect(second).to.deep.equal({ name: '02:02:03:04:05:06', source: 'persisted' });
    });

    it('prefers an explicit name, then the system identity', async () => {
      expect(await resolvePeerName({ dataDir: dir, explicit: '::7' })).to.deep.equal({ name: '00:00:00:00:00:07', source: 'explicit' });
      const read = async (p: string): Promise<Buffer> => {
        if (p === '/etc/machine-id') return Buffer.from('m\n');
        throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      };
      const r = await resolvePeerName({ dataDir: dir, readFile: read });
      expect(r).to.deep.equal({ name: peerNameFromSystemId(Buffer.from('m\n')), source: 'system' });
    });
  });

  it('UIDs are never zero and short IDs fit 12 bits', () => {
    let calls = 0;
    const uid = randomUid(() => (calls++ === 0 ? Buffer.alloc(8) : Buffer.from([0, 0, 0, 0, 0, 0, 0, 5])));
    expect(uid).to.equal(5n);
    expect(randomShortId(() => 0.99999)).to.equal(4095);
    expect(randomShortId(() => 0)).to.equal(0);
  });
});
