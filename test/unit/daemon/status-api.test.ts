// The control/status API answers a client's mistakes with 4xx, keeps 500 for its own, and never
// keeps a request waiting for an allocation that cannot happen. Cases found by test/fuzz.
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { gzipSync } from 'node:zlib';
import { silentLogger } from '../../../common/logger.ts';
import { mountIpamApi } from '../../../daemon/ipam-api.ts';
import { StatusApi, type StatusProvider } from '../../../daemon/status-api.ts';
import type { RingAllocator } from '../../../ipam/ring-allocator.ts';

describe('daemon/StatusApi: client errors are 4xx', () => {
  let api: StatusApi;
  let base: string;
  let statusFails = false;
  const allocations: string[] = [];

  before(async () => {
    const provider: StatusProvider = {
      status: () => (statusFails ? Promise.reject(new Error('broken provider')) : Promise.resolve({ ok: true })),
      connect: () => [],
      forget: () => undefined,
    };
    // only what the /ip routes use; an allocation never completes, so a request that reaches
    // it shows up as a timeout
    const allocator = {
      range: { base: 0x0a200000, prefix: 12 },
      inRange: () => true,
      allocate: (id: string) => {
        allocations.push(id);
        return new Promise<number>(() => undefined);
      },
    } as unknown as RingAllocator;
    api = new StatusApi({
      addr: '127.0.0.1:0',
      provider,
      metrics: new Registry(),
      logger: silentLogger(),
      routes: (app) => mountIpamApi(app, { allocator, defaultSubnet: '10.32.0.0/16', logger: silentLogger() }),
    });
    await api.start();
    base = `http://127.0.0.1:${api.address!.port}`;
  });
  after(async () => {
    await api.stop();
  });

  const post = (path: string, body: NonNullable<RequestInit['body']>, headers: Record<string, string>): Promise<Response> =>
    fetch(`${base}${path}`, { method: 'POST', body, headers, signal: AbortSignal.timeout(2000) });

  it('answers bodies the JSON parser refuses with 4xx, not 500', async () => {
    const json = { 'Content-Type': 'application/json' };
    const cases: [string, NonNullable<RequestInit['body']>, Record<string, string>, number][] = [
      ['not JSON', 'G;\u0001x', json, 400],
      ['truncated JSON', '{"peers":["[::', json, 400],
      ['unknown charset', '{"peers":[]}', { 'Content-Type': 'application/json; charset=latin1' }, 415],
      ['over 64 KiB', JSON.stringify({ peers: ['x'.repeat(70_000)] }), json, 413],
      ['gzip that is not', 'not gzip at all', { ...json, 'Content-Encoding': 'gzip' }, 400],
      ['unknown encoding', '{"peers":[]}', { ...json, 'Content-Encoding': 'x-nope' }, 415],
    ];
    for (const [what, body, headers, status] of cases) {
      for (const path of ['/connect', '/forget']) {
        const r = await post(path, body, headers);
        expect(r.status, `${what} on ${path}`).to.equal(status);
        expect(((await r.json()) as { error?: string }).error, what).to.be.a('string');
      }
    }
    // a good gzipped body still works
    expect((await post('/connect', gzipSync('{"peers":["198.18.0.9"]}'), { ...json, 'Content-Encoding': 'gzip' })).status).to.equal(200);
  });

  it('names at most 10 of the problems of a body with a thousand of them', async () => {
    const r = await post('/connect', JSON.stringify({ peers: Array.from({ length: 1000 }, () => '') }), { 'Content-Type': 'application/json' });
    expect(r.status).to.equal(400);
    const { error } = (await r.json()) as { error: string };
    expect(error).to.match(/^peers\[0\]: .*; and 990 more problems$/);
    expect(error.length).to.be.below(2000);
  });

  it('still answers its own failures with 500', async () => {
    statusFails = true;
    try {
      const r = await fetch(`${base}/status`);
      expect(r.status).to.equal(500);
    } finally {
      statusFails = false;
    }
  });

  it('answers an /ip request with a malformed address in its path with 400', async () => {
    for (const path of ['/ip/fz1/1.2.3/24', '/ip/fz1/10.32.0.300/16', '/ip/fz1/010.32.0.1/16', '/ip/fz1/10.32.0.1/33']) {
      const r = await post(path, '', {});
      expect(r.status, path).to.equal(400);
      expect(await r.text(), path).to.match(/invalid|IPv4|prefix/i);
    }
  });

  it('refuses at once to allocate in a subnet without host addresses (/31, /32)', async () => {
    const before = allocations.length;
    for (const path of ['/ip/fz2/10.40.200.1/31', '/ip/fz2/10.40.200.1/32']) {
      const r = await post(path, '', {});
      expect(r.status, path).to.equal(400);
      expect(await r.text()).to.match(/no host addresses/);
    }
    // never handed to the allocator, which would have waited (and asked other peers) in vain
    expect(allocations.length).to.equal(before);
  });
});
