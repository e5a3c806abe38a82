// Inputs for the status/control API (127.0.0.1:6784): raw bytes on a fresh TCP connection —
// malformed request lines, huge and broken headers, lying lengths, broken chunking, pipelining.
// Requests that would change the daemon (connect a peer, expose, rmpeer, rejoin, allocate) are
// only ever sent malformed: the API is trusted (loopback), the fuzz is about what it survives.
import type { Rng } from './rng.ts';

export interface StatusInput {
  /** Written in this many pieces, with a short pause between. */
  chunks: Buffer[];
  /** Half-close after writing (the client sends no more). */
  endAfter: boolean;
  what: string;
}

/** [method, path, body allowed] — reads anywhere, writes only where the body is broken. */
const SAFE: readonly (readonly [string, string])[] = [
  ['GET', '/status'], ['GET', '/metrics'], ['GET', '/ip'], ['GET', '/ring'], ['GET', '/domain'], ['GET', '/expose'],
  ['GET', '/ip/fuzz-nothing'], ['GET', '/dns/lookup/fuzz'], ['HEAD', '/status'], ['OPTIONS', '/status'],
  ['POST', '/status'], ['PUT', '/metrics'], ['DELETE', '/nothing'], ['PATCH', '/connect'], ['GET', '/'],
  ['GET', '/%zz%'], ['GET', '/../../../etc/passwd'], ['GET', '*'], ['GET', 'http://x/status'],
  ['POST', '/ip/fuzz-bad/999.1.1.1/24'], ['POST', '/ip/fuzz-bad/10.32.0.0/40'], ['PUT', '/ip/fuzz-bad/1.2.3/24'], ['DELETE', '/ip/fuzz-bad/10.32.0.300'],
];
/** Routes that act on a valid body: sent only with bodies they must refuse. */
const BODY_ROUTES: readonly (readonly [string, string])[] = [['POST', '/connect'], ['POST', '/forget'], ['POST', '/expose'], ['DELETE', '/expose']];
const BAD_BODIES = ['{', '{"peers":5}', '{"peers":[1,2]}', '{"peers":[""]}', '{"cidrs":7}', '{"cidrs":["x"],"bogus":1}', 'null', '[]', '"x"', '{"peers":["a"],"replace":"yes"}', '\u0000\u0001'];

function requestLine(r: Rng, method: string, path: string): string {
  switch (r.int(10)) {
    case 0: return `${method} ${path} HTTP/9.9\r\n`;
    case 1: return `${method} ${path}\r\n`;
    case 2: return `${r.string(r.range(1, 20))} ${path} HTTP/1.1\r\n`;
    case 3: return `${method}  ${path} HTTP/1.1\n`;
    case 4: return `${method} /${'a'.repeat(r.range(8_000, 100_000))} HTTP/1.1\r\n`;
    default: return `${method} ${path} HTTP/1.${r.pick(['0', '1'])}\r\n`;
  }
}

function headers(r: Rng, bodyLength: number): string {
  const out: string[] = [];
  if (r.bool(0.8)) out.push('Host: 127.0.0.1:6784');
  const lie = r.int(6);
  if (lie === 0) out.push(`Content-Length: ${bodyLength + r.range(1, 1_000_000)}`);
  else if (lie === 1) out.push(`Content-Length: ${r.pick(['-1', 'abc', '1e9', '99999999999999999999', ' 5', '0x10'])}`);
  else if (lie === 2) out.push(`Content-Length: ${bodyLength}`, `Content-Length: ${bodyLength + 1}`);
  else if (lie === 3) out.push('Transfer-Encoding: chunked');
  else if (lie === 4) out.push(`Content-Length: ${bodyLength}`, 'Transfer-Encoding: chunked');
  else out.push(`Content-Length: ${bodyLength}`);
  if (r.bool(0.6)) out.push(`Content-Type: ${r.pick(['application/json', 'application/json; charset=utf-16', 'text/plain', 'application/json; charset=latin1', r.string(10)])}`);
  if (r.bool(0.15)) out.push(`Content-Encoding: ${r.pick(['gzip', 'deflate', 'br', 'x-nope', 'gzip, gzip'])}`);
  for (let i = r.int(4); i > 0; i--) out.push(`${r.string(r.range(1, 12), 'abcXYZ-_:\u0000 ')}: ${r.string(r.range(0, 40))}`);
  if (r.bool(0.05)) out.push(`X-Huge: ${'h'.repeat(r.range(16_000, 200_000))}`);
  if (r.bool(0.03)) for (let i = 0, n = r.range(100, 3000); i < n; i++) out.push(`X-Many-${i}: ${i}`);
  if (r.bool(0.3)) out.push(`Connection: ${r.pick(['close', 'keep-alive', 'upgrade', 'Upgrade, HTTP2-Settings'])}`);
  return out.join(r.bool(0.9) ? '\r\n' : '\n') + '\r\n\r\n';
}

function body(r: Rng): string {
  switch (r.int(4)) {
    case 0: return '';
    case 1: return r.pick(BAD_BODIES);
    case 2: return `${r.range(1, 20).toString(16)}\r\n${r.string(r.range(0, 40))}\r\n${r.pick(['0\r\n\r\n', 'zz\r\n', 'ffffffffffff\r\n', ''])}`;
    default: return r.string(r.range(0, 2000));
  }
}

export function statusInput(r: Rng): StatusInput {
  const kind = r.weighted<string>([[10, 'bytes'], [70, 'request'], [10, 'pipelined'], [5, 'slow'], [5, 'valid-read']]);
  if (kind === 'bytes') return { chunks: [r.bytes(r.range(1, 4000))], endAfter: r.bool(), what: 'random bytes' };
  if (kind === 'valid-read') {
    const [m, p] = r.pick(SAFE.slice(0, 8));
    return { chunks: [Buffer.from(`${m} ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)], endAfter: false, what: `${m} ${p}` };
  }
  const one = (): string => {
    const bodyRoute = r.bool(0.35);
    const [method, path] = bodyRoute ? r.pick(BODY_ROUTES) : r.pick(SAFE);
    const b = bodyRoute ? r.pick(BAD_BODIES) : body(r);
    return requestLine(r, method, path) + headers(r, Buffer.byteLength(b)) + b;
  };
  if (kind === 'pipelined') {
    const text = Array.from({ length: r.range(2, 6) }, one).join('');
    return { chunks: [Buffer.from(text)], endAfter: r.bool(), what: 'pipelined requests' };
  }
  const text = Buffer.from(one());
  if (kind === 'slow') {
    const n = r.range(2, 8);
    const chunks: Buffer[] = [];
    for (let i = 0; i < n; i++) chunks.push(text.subarray(Math.floor((i * text.length) / n), Math.floor(((i + 1) * text.length) / n)));
    return { chunks, endAfter: r.bool(), what: 'request in slow pieces' };
  }
  return { chunks: [text], endAfter: r.bool(0.7), what: 'malformed request' };
}
