import express from 'express';
import { z } from 'zod';
import type { Registry } from 'prom-client';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../common/logger.ts';
import { describeIssues } from '../common/zod-issues.ts';
import { parseAddr } from './status-addr.ts';

export { parseAddr };

export interface StatusProvider {
  status(): Promise<unknown>;
  /** Returns errors for peers that could not be parsed. */
  connect(peers: string[], replace: boolean): string[];
  forget(peers: string[]): void;
}

const PeersBody = z.object({ peers: z.array(z.string().min(1)).max(1000), replace: z.boolean().optional() }).strict();

/** The daemon's HTTP control/status API on loopback (Weave's 127.0.0.1:6784). The CLI talks to
 *  the daemon only through it. */
export class StatusApi {
  private server: Server | undefined;

  constructor(
    private readonly opts: { addr: string; provider: StatusProvider; metrics: Registry; logger: Logger; routes?: (app: express.Express) => void },
  ) {}

  async start(): Promise<void> {
    const app = express();
    app.disable('x-powered-by');
    app.get('/status', async (_req, res) => {
      res.json(await this.opts.provider.status());
    });
    app.get('/metrics', async (_req, res) => {
      res.type(this.opts.metrics.contentType).send(await this.opts.metrics.metrics());
    });
    const json = express.json({ limit: '64kb' });
    app.post('/connect', json, (req, res) => {
      const body = PeersBody.safeParse(req.body);
      if (!body.success) {
        res.status(400).json({ error: describeIssues(body.error.issues, 'body') });
        return;
      }
      const errors = this.opts.provider.connect(body.data.peers, body.data.replace ?? false);
      res.status(errors.length > 0 ? 400 : 200).json({ errors });
    });
    app.post('/forget', json, (req, res) => {
      const body = PeersBody.safeParse(req.body);
      if (!body.success) {
        res.status(400).json({ error: describeIssues(body.error.issues, 'body') });
        return;
      }
      this.opts.provider.forget(body.data.peers);
      res.json({ errors: [] });
    });
    this.opts.routes?.(app);
    app.use((_req, res) => {
      res.status(404).json({ error: 'not found' });
    });
    app.use((err: unknown, req: express.Request, res: express.Response, _next: express.NextFunction) => {
      const message = err instanceof Error ? err.message : String(err);
      const status = clientErrorStatus(err);
      if (status !== undefined) {
        // the body parser's verdicts (not JSON, too large, unknown charset or encoding): the
        // client's mistake, not ours, and nothing to alarm an operator with
        this.opts.logger.debug('bad status API request', { path: req.path, status, error: message });
        res.status(status).json({ error: message });
        return;
      }
      this.opts.logger.error('status API request failed', { error: message });
      res.status(500).json({ error: message });
    });
    const { host, port } = parseAddr(this.opts.addr);
    await new Promise<void>((resolve, reject) => {
      const server = app.listen(port, host);
      server.once('listening', () => resolve());
      server.once('error', (err) => reject(new Error(`cannot listen on ${this.opts.addr}: ${err.message}`)));
      this.server = server;
    });
    this.opts.logger.info('status API listening', { addr: this.opts.addr });
  }

  /** Where it listens (the port, when started on port 0). */
  get address(): AddressInfo | undefined {
    const a = this.server?.address();
    return a !== null && typeof a === 'object' ? a : undefined;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The 4xx status an error carries (http-errors, as body-parser throws them), if any. */
function clientErrorStatus(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

