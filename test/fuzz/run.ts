// Drives one surface: N generated inputs (input i rebuilt from seed, surface and i alone), at
// most `concurrency` at a time, stopping early at a time cap. Plugin inputs go to the daemon's
// unix socket; the network surfaces run as `node --import tsx run.ts SURFACE ...` inside a lab
// namespace (fuzz-lab.ts starts it there), so their traffic never leaves the lab.
import { request, Agent } from 'node:http';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Rng } from './gen/rng.ts';
import { pluginInput, FUZZ_ENDPOINTS, FUZZ_NETWORKS, fuzzEndpoint, fuzzNetwork, HANG_NETWORK, HANG_SUBNET, isHangEndpoint, type PluginInput } from './gen/plugin.ts';
import { statusInput } from './gen/status.ts';
import { tcpInput } from './gen/tcp.ts';
import { udpInput, type UdpContext } from './gen/udp.ts';

export type Surface = 'plugin' | 'status' | 'tcp' | 'udp';

export interface Failure {
  index: number;
  what: string;
  problem: string;
}

export interface RunResult {
  surface: Surface;
  seed: number;
  /** Inputs sent. */
  sent: number;
  ms: number;
  failures: Failure[];
  /** Per surface counters (answers by status, refusals, ...). */
  stats: Record<string, number>;
}

export interface RunOptions {
  seed: number;
  count: number;
  timeMs: number;
  concurrency: number;
}

const MAX_FAILURES = 20;

class Collector {
  readonly failures: Failure[] = [];
  readonly stats: Record<string, number> = {};
  count(key: string): void {
    this.add(key, 1);
  }
  add(key: string, n: number): void {
    this.stats[key] = (this.stats[key] ?? 0) + n;
  }
  fail(index: number, what: string, problem: string): void {
    if (this.failures.length < MAX_FAILURES) this.failures.push({ index, what, problem });
    this.count('failures');
  }
}

/** Runs inputs 0..count-1 through `one`, `concurrency` at a time, until done or the time cap. */
async function drive(opts: RunOptions, one: (index: number) => Promise<void>): Promise<{ sent: number; ms: number }> {
  const started = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < opts.count && Date.now() - started < opts.timeMs) await one(next++);
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return { sent: next, ms: Date.now() - started };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- plugin (unix socket)

interface PluginAnswer {
  status: number;
  body: string;
}

function postPlugin(socketPath: string, agent: Agent, input: PluginInput, body: string | Buffer, timeoutMs: number): Promise<PluginAnswer | 'hung-up' | 'refused-body'> {
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath, path: input.path, method: 'POST', agent: input.hangUpAfterMs === undefined ? agent : false,
      headers: { Accept: 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    let answered = false;
    req.on('response', () => (answered = true));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (input.hangUpAfterMs !== undefined && err.code === 'ECONNRESET') resolve('hung-up');
      // the server answers a huge body and closes before reading it all
      else if (Buffer.byteLength(body) > 1024 * 1024 && (err.code === 'EPIPE' || err.code === 'ECONNRESET')) resolve('refused-body');
      else reject(err);
    });
    req.end(body);
    if (input.hangUpAfterMs !== undefined) {
      // after this loop turn's reads (setImmediate runs after the poll phase): an answer that
      // has already arrived is taken, not hung up on, since the daemon rightly counts it as given
      // The caller hangs up with a FIN, not a reset: the server then ends its side at once, so an
      // answer it wrote before it saw the FIN still arrives and counts as given (the ledger takes
      // it), and one it had not written never does. With a reset that race cannot be told apart
      // from the client side, and an answer already on its way would look like a leak.
      const t = setTimeout(() => setImmediate(() => {
        if (answered) return;
        if (req.socket === null) {
          req.destroy();
          resolve('hung-up');
          return;
        }
        req.socket.end();
      }), input.hangUpAfterMs);
      req.on('close', () => clearTimeout(t));
    }
  });
}

/** What the fuzz was granted or created, learnt from 200 answers, so cleanup can undo it all. */
export interface PluginLedger {
  pools: Map<string, number>;
  /** poolId -> addresses granted. */
  addresses: Map<string, string[]>;
  networks: Set<string>;
  endpoints: Set<string>;
}

export async function runPlugin(socketPath: string, opts: RunOptions): Promise<RunResult & { ledger: PluginLedger }> {
  const c = new Collector();
  const ledger: PluginLedger = { pools: new Map(), addresses: new Map(), networks: new Set(), endpoints: new Set() };
  /** pools granted for fuzz subnet k (10.99.k.0/24), for calls that need a PoolID */
  const poolOfSubnet = new Map<number, string>();
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  // the network and pool that hung-up creates put their endpoints and addresses in
  const setup = async (path: string, body: object): Promise<Record<string, unknown>> => {
    const a = await postPlugin(socketPath, agent, { path, body: '', what: 'setup' }, JSON.stringify(body), 20_000);
    if (typeof a === 'string' || a.status !== 200) throw new Error(`plugin fuzz setup ${path}: ${typeof a === 'string' ? a : `${a.status} ${a.body}`}`);
    return JSON.parse(a.body) as Record<string, unknown>;
  };
  const hangPool = String((await setup('/IpamDriver.RequestPool', { AddressSpace: 'weavelocal', Pool: HANG_SUBNET, Options: {} }))['PoolID']);
  ledger.pools.set(hangPool, 1);
  poolOfSubnet.set(-1, hangPool);
  await setup('/NetworkDriver.CreateNetwork', { NetworkID: HANG_NETWORK, Options: {}, IPv4Data: [{ AddressSpace: 'weavelocal', Pool: HANG_SUBNET }] });
  ledger.networks.add(HANG_NETWORK);
  const hungEndpoints: { index: number; id: string }[] = [];
  const { sent, ms } = await drive(opts, async (index) => {
    const input = pluginInput(Rng.forInput(opts.seed, 'plugin', index));
    let body = input.body;
    if (input.poolOf !== undefined && typeof body === 'string') {
      // PoolIDs are the daemon's to choose: use one it gave us for that subnet, when we have one
      const id = poolOfSubnet.get(input.poolOf);
      try {
        const parsed = JSON.parse(body) as Record<string, unknown>;
        if (parsed !== null && typeof parsed === 'object' && parsed['PoolID'] === '') {
          parsed['PoolID'] = id ?? `fuzz-pool-${input.poolOf}`;
          body = JSON.stringify(parsed);
        }
      } catch {
        // not JSON: sent as is
      }
    }
    let answer: PluginAnswer | 'hung-up' | 'refused-body';
    const t0 = Date.now();
    try {
      answer = await postPlugin(socketPath, agent, input, body, 20_000);
    } catch (err) {
      c.fail(index, `${input.path} ${input.what}`, `no answer: ${(err as Error).message}`);
      return;
    } finally {
      c.add(`ms ${input.kind}`, Date.now() - t0);
    }
    if (answer === 'hung-up' || answer === 'refused-body') {
      c.count(answer);
      if (answer === 'hung-up' && input.path === '/NetworkDriver.CreateEndpoint') {
        const id = (JSON.parse(String(body)) as { EndpointID: string }).EndpointID;
        if (isHangEndpoint(id)) hungEndpoints.push({ index, id });
      }
      return;
    }
    c.count(`http ${answer.status}`);
    let json: unknown;
    try {
      json = JSON.parse(answer.body);
    } catch {
      c.fail(index, `${input.path} ${input.what}`, `answer ${answer.status} is not JSON: ${answer.body.slice(0, 200)}`);
      return;
    }
    const obj = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
    if (obj === undefined) {
      c.fail(index, `${input.path} ${input.what}`, `answer is not a JSON object: ${answer.body.slice(0, 200)}`);
      return;
    }
    if (answer.status !== 200) {
      const err = obj['Err'];
      if (typeof err !== 'string' || err.trim() === '') c.fail(index, `${input.path} ${input.what}`, `error answer ${answer.status} without an Err message: ${answer.body.slice(0, 200)}`);
      else if (err.length > 4096) c.fail(index, `${input.path} ${input.what}`, `Err of ${err.length} characters (should name a few problems, not all): ${err.slice(0, 300)}…`);
      if (answer.status >= 500 && typeof err === 'string') c.count(`500: ${input.path} ${err.replace(/[0-9a-f]{6,}|\d+/g, 'N').slice(0, 90)}`);
      return;
    }
    if (typeof obj['Err'] === 'string' && obj['Err'] !== '') c.fail(index, `${input.path} ${input.what}`, `200 with an Err: ${answer.body.slice(0, 200)}`);
    // learn what now exists, to undo it afterwards
    let req: Record<string, unknown> = {};
    try {
      req = JSON.parse(typeof body === 'string' ? body : body.toString('utf8')) as Record<string, unknown>;
    } catch {
      // a 200 to a body that is not JSON: only no-argument methods do that
    }
    switch (input.path) {
      case '/IpamDriver.RequestPool': {
        const id = String(obj['PoolID']);
        ledger.pools.set(id, (ledger.pools.get(id) ?? 0) + 1);
        const m = /^10\.99\.(\d+)\.0\/24$/.exec(String(obj['Pool']));
        if (m) poolOfSubnet.set(Number(m[1]), id);
        break;
      }
      case '/IpamDriver.ReleasePool': {
        const id = String(req['PoolID']);
        const n = ledger.pools.get(id) ?? 0;
        if (n > 1) ledger.pools.set(id, n - 1);
        else ledger.pools.delete(id);
        break;
      }
      case '/IpamDriver.RequestAddress': {
        const id = String(req['PoolID']);
        ledger.addresses.set(id, [...(ledger.addresses.get(id) ?? []), String(obj['Address']).split('/')[0]!]);
        break;
      }
      case '/NetworkDriver.CreateNetwork':
        ledger.networks.add(String(req['NetworkID']));
        break;
      case '/NetworkDriver.CreateEndpoint':
        ledger.endpoints.add(`${String(req['NetworkID'])} ${String(req['EndpointID'])}`);
        break;
      case '/IpamDriver.ReleaseAddress': {
        const id = String(req['PoolID']);
        const left = (ledger.addresses.get(id) ?? []).filter((a) => a !== String(req['Address']));
        ledger.addresses.set(id, left);
        break;
      }
      default:
        break;
    }
  });
  // an endpoint made for a caller that hung up is one Docker never learns of and never deletes
  for (const { index, id } of hungEndpoints) {
    if (ledger.endpoints.has(`${HANG_NETWORK} ${id}`)) continue;
    const a = await postPlugin(socketPath, agent, { path: '/NetworkDriver.EndpointOperInfo', body: '', what: 'check' }, JSON.stringify({ NetworkID: HANG_NETWORK, EndpointID: id }), 20_000);
    if (typeof a !== 'string' && a.status === 200 && Object.keys((JSON.parse(a.body) as { Value?: object }).Value ?? {}).length > 0) {
      c.fail(index, 'CreateEndpoint, caller hangs up', `endpoint ${id} exists though its caller hung up before the answer: ${a.body.slice(0, 200)}`);
    }
  }
  agent.destroy();
  return { surface: 'plugin', seed: opts.seed, sent, ms, failures: c.failures, stats: c.stats, ledger };
}

/** Removes everything the plugin fuzz may have created, the way Docker would: endpoints, then
 *  networks, then addresses, then pools. What is left afterwards is a leak. */
export async function cleanupPlugin(socketPath: string, ledger: PluginLedger): Promise<string[]> {
  const problems: string[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const call = async (path: string, body: object): Promise<void> => {
    const input: PluginInput = { path, body: '', what: 'cleanup' };
    const a = await postPlugin(socketPath, agent, input, JSON.stringify(body), 20_000);
    if (typeof a === 'string') problems.push(`${path}: ${a}`);
    else if (a.status !== 200 && !/not found|unknown|no such/i.test(a.body)) problems.push(`${path} ${JSON.stringify(body)}: ${a.status} ${a.body.slice(0, 200)}`);
  };
  const endpoints = new Set(ledger.endpoints);
  const networks = new Set(ledger.networks);
  for (let k = 0; k < FUZZ_NETWORKS; k++) {
    networks.add(fuzzNetwork(k));
    for (let j = 0; j < FUZZ_ENDPOINTS; j++) endpoints.add(`${fuzzNetwork(k)} ${fuzzEndpoint(j)}`);
  }
  for (const e of endpoints) {
    const [NetworkID, EndpointID] = e.split(' ');
    await call('/NetworkDriver.DeleteEndpoint', { NetworkID, EndpointID });
  }
  for (const NetworkID of networks) await call('/NetworkDriver.DeleteNetwork', { NetworkID });
  for (const [PoolID, addrs] of ledger.addresses) for (const Address of new Set(addrs)) await call('/IpamDriver.ReleaseAddress', { PoolID, Address });
  for (const [PoolID, n] of ledger.pools) for (let i = 0; i < n; i++) await call('/IpamDriver.ReleasePool', { PoolID });
  agent.destroy();
  return problems;
}

// ---------------------------------------------------------------- status API (TCP, inside host)

async function runStatus(target: { host: string; port: number }, opts: RunOptions): Promise<RunResult> {
  const c = new Collector();
  const { sent, ms } = await drive(opts, async (index) => {
    const input = statusInput(Rng.forInput(opts.seed, 'status', index));
    const problem = await new Promise<string | undefined>((resolve) => {
      const sock = connect(target.port, target.host);
      let head = '';
      let done = false;
      const finish = (p?: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.destroy();
        resolve(p);
      };
      // an answer, a close, or (for a request that promised more body than it sent) our patience
      const timer = setTimeout(() => {
        c.count('held open by the server');
        finish();
      }, 1000);
      sock.on('data', (d: Buffer) => {
        if (head.length < 64) head += d.toString('latin1');
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
        if (m) {
          c.count(`http ${m[1]}`);
          if (Number(m[1]) >= 500) finish(`answered ${m[1]}: ${head.slice(0, 64).replace(/\r\n/g, ' | ')}`);
        }
      });
      sock.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNREFUSED') finish('connection refused: is the daemon gone?');
        else finish();
      });
      sock.on('close', () => finish());
      sock.on('connect', () => {
        void (async () => {
          for (const [i, chunk] of input.chunks.entries()) {
            if (sock.destroyed) return;
            sock.write(chunk);
            if (i < input.chunks.length - 1) await sleep(20);
          }
          if (input.endAfter && !sock.destroyed) sock.end();
        })();
      });
    });
    if (problem !== undefined) c.fail(index, input.what, problem);
  });
  return { surface: 'status', seed: opts.seed, sent, ms, failures: c.failures, stats: c.stats };
}

// ---------------------------------------------------------------- mesh TCP 6783 (from the wire)

async function runTcp(target: { host: string; port: number }, opts: RunOptions & { burst: number }): Promise<RunResult> {
  const c = new Collector();
  let refusedInARow = 0;
  const { sent, ms } = await drive(opts, async (index) => {
    const input = tcpInput(Rng.forInput(opts.seed, 'tcp', index));
    await new Promise<void>((resolve) => {
      const sock = connect(target.port, target.host);
      let closedByServer = false;
      const cap = setTimeout(() => sock.destroy(), 5000);
      sock.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNREFUSED') {
          refusedInARow++;
          if (refusedInARow > 50) c.fail(index, input.what, 'connection refused: the daemon no longer listens on 6783');
        }
      });
      sock.on('data', () => c.count('server wrote'));
      sock.on('end', () => (closedByServer = true));
      sock.on('close', () => {
        clearTimeout(cap);
        c.count(closedByServer ? 'closed by daemon' : 'closed by us');
        resolve();
      });
      sock.on('connect', () => {
        refusedInARow = 0;
        void (async () => {
          for (const chunk of input.chunks) {
            if (sock.destroyed || closedByServer) break;
            sock.write(chunk);
            if (input.gapMs > 0) await sleep(input.gapMs);
          }
          if (input.halfClose && !sock.destroyed) sock.end();
          if (input.holdMs > 0) await sleep(input.holdMs);
          if (!input.halfClose) sock.destroy();
        })();
      });
    });
  });
  // silent connections held open together, up to the connection limit
  const held = await new Promise<number>((resolve) => {
    let open = 0;
    const socks = Array.from({ length: opts.burst }, () => {
      const s = connect(target.port, target.host);
      s.on('connect', () => open++);
      s.on('error', () => undefined);
      return s;
    });
    setTimeout(() => {
      for (const s of socks) s.destroy();
      resolve(open);
    }, 3000);
  });
  c.stats['silent connections held together'] = held;
  return { surface: 'tcp', seed: opts.seed, sent: sent + opts.burst, ms, failures: c.failures, stats: c.stats };
}

// ---------------------------------------------------------------- UDP 6783/6784 (from the wire)

async function runUdp(host: string, ctx: UdpContext, opts: RunOptions): Promise<RunResult> {
  const c = new Collector();
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, resolve));
  sock.on('error', () => undefined);
  const { sent, ms } = await drive(opts, async (index) => {
    const input = udpInput(Rng.forInput(opts.seed, 'udp', index), ctx);
    await new Promise<void>((resolve) => {
      sock.send(input.payload, input.port, host, (err) => {
        c.count(err ? `send error ${(err as NodeJS.ErrnoException).code ?? ''}` : `to ${input.port}`);
        resolve();
      });
    });
    // paced: a datagram flood measures the kernel, not the parser
    if (index % 50 === 0) await sleep(5);
  });
  sock.close();
  return { surface: 'udp', seed: opts.seed, sent, ms, failures: c.failures, stats: c.stats };
}

// ---------------------------------------------------------------- CLI (inside a lab namespace)

async function main(argv: string[]): Promise<void> {
  const [surface, target, count, seed, timeMs, concurrency, extra] = argv;
  const opts: RunOptions = { seed: Number(seed), count: Number(count), timeMs: Number(timeMs), concurrency: Number(concurrency) };
  const [host, port] = (target ?? '').split(':');
  let result: RunResult;
  if (surface === 'status') result = await runStatus({ host: host!, port: Number(port) }, opts);
  else if (surface === 'tcp') result = await runTcp({ host: host!, port: Number(port) }, { ...opts, burst: Number(extra ?? 200) });
  else if (surface === 'udp') {
    const ctx = JSON.parse(readFileSync(extra!, 'utf8')) as { peers: string[]; captured: { port: number; hex: string }[] };
    result = await runUdp(host!, { peers: ctx.peers, captured: ctx.captured.map((p) => ({ port: p.port, payload: Buffer.from(p.hex, 'hex') })) }, opts);
  } else throw new Error(`unknown surface ${String(surface)}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${String((err as Error).stack ?? err)}\n`);
    process.exit(2);
  });
}
