import { request } from 'node:http';

export interface PluginReply {
  status: number;
  body: string;
  /** Parsed body, when it is JSON. */
  json: unknown;
}

/** A raw POST to a Docker plugin socket, the way the engine calls it, but with any body: for
 *  tests that feed the plugin what the engine never would. */
export function callPlugin(socketPath: string, method: string, body: string | Buffer, timeoutMs = 10_000): Promise<PluginReply> {
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath,
      path: `/${method}`,
      method: 'POST',
      headers: { 'Content-Type': 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': Buffer.byteLength(body) },
      timeout: timeoutMs,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body: text, json });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method}: no answer within ${timeoutMs} ms`)));
    // the server may answer (413) and close before reading a huge body: that is a reply, not an error
    req.on('error', reject);
    req.end(body);
  });
}
