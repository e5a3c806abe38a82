import { request } from 'node:http';
import { parseAddr } from '../daemon/status-addr.ts';
import { DaemonUnreachableError } from './status-client.ts';

/** POST a JSON body to the daemon's control API; resolves to the parsed reply and status. */
export function postJson(addr: string, path: string, body: unknown, timeoutMs = 5000): Promise<{ status: number; body: unknown }> {
  return sendJson(addr, 'POST', path, body, timeoutMs);
}

/** A JSON body with any method (DELETE /expose carries one). */
export function sendJson(addr: string, method: string, path: string, body: unknown, timeoutMs = 5000): Promise<{ status: number; body: unknown }> {
  const { host, port } = parseAddr(addr);
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path, method, timeout: timeoutMs, headers: { 'Content-Type': 'application/json', 'Content-Length': payload.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
          } catch {
            resolve({ status: res.statusCode ?? 0, body: text });
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => reject(new DaemonUnreachableError(addr, err.message)));
    req.end(payload);
  });
}

/** A request with no body whose reply is text (Weave's plain-text control routes). */
export function httpText(addr: string, method: string, path: string, timeoutMs = 15_000): Promise<{ status: number; body: string }> {
  const { host, port } = parseAddr(addr);
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => reject(new DaemonUnreachableError(addr, err.message)));
    req.end();
  });
}
