// The control routes of `weave expose`/`hide`: bodies are checked before anything happens, and a
// request the service refuses comes back as a 4xx with its message.
import { expect } from 'chai';
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../../../common/logger.ts';
import { mountExposeApi } from '../../../daemon/expose-api.ts';
import type { ExposeControl, ExposedAddress } from '../../../daemon/expose-contract.ts';
import { ExposeRequestError } from '../../../daemon/expose-error.ts';

const EXPOSED: ExposedAddress = { cidr: '10.32.0.0/16', address: '10.32.0.1/16', interface: 'weavex0a200000', port: 'vethwex0a200000', name: 'host1' };

describe('daemon/expose-api', () => {
  let server: Server;
  let base: string;
  const calls: unknown[][] = [];
  let failWith: Error | undefined;

  const control: ExposeControl = {
    expose: async (targets, name) => {
      calls.push(['expose', targets, name]);
      if (failWith) throw failWith;
      return [EXPOSED];
    },
    hide: async (targets) => {
      calls.push(['hide', targets]);
      if (failWith) throw failWith;
      return [EXPOSED];
    },
    list: () => [EXPOSED],
  };

  const send = async (method: string, body?: string): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${base}/expose`, { method, ...(body !== undefined ? { body, headers: { 'Content-Type': 'application/json' } } : {}) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    const app = express();
    mountExposeApi(app, { control, logger: silentLogger() });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    calls.length = 0;
    failWith = undefined;
  });

  it('POST exposes, DELETE hides (with or without a body), GET lists', async () => {
    expect(await send('POST', JSON.stringify({ cidrs: ['10.32.0.0/16'], name: 'gw' }))).to.deep.equal({ status: 200, json: { exposed: [EXPOSED] } });
    expect(await send('DELETE')).to.deep.equal({ status: 200, json: { hidden: [EXPOSED] } });
    expect(await send('DELETE', JSON.stringify({ cidrs: ['10.32.0.0/16'] }))).to.deep.equal({ status: 200, json: { hidden: [EXPOSED] } });
    expect(await send('GET')).to.deep.equal({ status: 200, json: { exposed: [EXPOSED] } });
    expect(calls).to.deep.equal([
      ['expose', ['10.32.0.0/16'], 'gw'],
      ['hide', []],
      ['hide', ['10.32.0.0/16']],
    ]);
  });

  it('answers 400 for bodies it cannot take, without calling the service', async () => {
    for (const [body, message] of [
      ['{"cidrs":"10.32.0.0/16"}', /^cidrs: /],
      ['{"cidrs":[""]}', /^cidrs\[0\]: /],
      ['{"names":"x"}', /unrecognized key/i],
      ['{"cidrs":', /^request body is not valid JSON/],
      ['[]', /^body: /],
    ] as const) {
      const r = await send('POST', body);
      expect(r.status, body).to.equal(400);
      expect(String(r.json['error']), body).to.match(message);
    }
    expect(calls).to.deep.equal([]);
  });

  // Found by test/fuzz: a body sent without a JSON Content-Type was skipped by the parser, so
  // the request counted as body-less, which exposes (or hides) the default network.
  it('reads a body of any Content-Type as JSON instead of acting as if there were none', async () => {
    for (const method of ['POST', 'DELETE']) {
      for (const [type, body] of [['text/plain', '{"cidrs":7}'], ['application/x-www-form-urlencoded', 'cidrs=10.32.0.0/16'], ['', 'junk']] as const) {
        const res = await fetch(`${base}/expose`, { method, body, headers: type === '' ? {} : { 'Content-Type': type } });
        expect(res.status, `${method} ${type} ${body}`).to.equal(400);
      }
    }
    expect(calls).to.deep.equal([]);
  });

  it('passes on the status and message of a refused request, and 500 for a failure', async () => {
    failWith = new ExposeRequestError('no weave network with subnet 10.99.0.0/24 on this host', 404);
    expect(await send('POST', '{"cidrs":["10.99.0.0/24"]}')).to.deep.equal({ status: 404, json: { error: 'no weave network with subnet 10.99.0.0/24 on this host' } });
    failWith = new Error('netlink: Operation not permitted');
    expect(await send('DELETE', '{}')).to.deep.equal({ status: 500, json: { error: 'netlink: Operation not permitted' } });
  });
});
