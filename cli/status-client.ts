import { request } from 'node:http';
import { parseAddr } from '../daemon/status-addr.ts';

export class DaemonUnreachableError extends Error {
  constructor(addr: string, cause: string) {
    super(`weave is not running (no answer from ${addr}: ${cause})`);
    this.name = 'DaemonUnreachableError';
  }
}

/** GET a JSON document from the daemon's status API. */
export function getJson(addr: string, path: string, timeoutMs = 5000): Promise<unknown> {
  const { host, port } = parseAddr(addr);
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          reject(new Error(`status API ${path}: HTTP ${res.statusCode}: ${text}`));
          return;
        }
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => reject(new DaemonUnreachableError(addr, err.message)));
    req.end();
  });
}
