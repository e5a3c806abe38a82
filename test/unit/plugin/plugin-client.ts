// Talks to the plugin socket the way dockerd does: POST, `Accept` only, no Content-Type.

import { request } from 'node:http';

export interface PluginReply {
  status: number;
  contentType: string | undefined;
  text: string;
  json: Record<string, unknown>;
}

export interface PostOptions {
  method?: string;
  /** Send the body with chunked encoding instead of Content-Length. */
  chunked?: boolean;
}

export function post(socketPath: string, path: string, body?: string | Buffer, opts: PostOptions = {}): Promise<PluginReply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
    const headers: Record<string, string | number> = { Accept: 'application/vnd.docker.plugins.v1.2+json', Host: 'plugin.moby.localhost' };
    if (!opts.chunked) headers['Content-Length'] = payload.length;
    const req = request({ socketPath, path, method: opts.method ?? 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // left empty; tests assert on status and text then
        }
        resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** POST a JSON value and expect a 200; return the parsed reply. */
export async function call(socketPath: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const reply = await post(socketPath, path, body === undefined ? undefined : JSON.stringify(body));
  if (reply.status !== 200) throw new Error(`${path} answered ${reply.status}: ${reply.text}`);
  return reply.json;
}
