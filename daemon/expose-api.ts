// `weave expose`/`hide` on the daemon's control API (127.0.0.1:6784). JSON in and out, unlike
// Weave's POST /expose/<ip>/<prefix>: here the daemon also takes the address from IPAM, so one
// call carries several networks and the name.
//   POST   /expose  {cidrs?: string[], name?: string}  -> {exposed: [...]}
//   DELETE /expose  {cidrs?: string[]}                 -> {hidden: [...]}
//   GET    /expose                                     -> {exposed: [...]}
import express from 'express';
import { z } from 'zod';
import type { Logger } from '../common/logger.ts';
import { describeIssues } from '../common/zod-issues.ts';
import type { ExposeControl, ExposeReply, ExposeStatus, HideReply } from './expose-contract.ts';
import { ExposeRequestError } from './expose-error.ts';

const MAX_TARGETS = 64;
const ExposeBody = z.object({ cidrs: z.array(z.string().min(1)).max(MAX_TARGETS).optional(), name: z.string().min(1).max(253).optional() }).strict();
const HideBody = z.object({ cidrs: z.array(z.string().min(1)).max(MAX_TARGETS).optional() }).strict();

export function mountExposeApi(app: express.Express, opts: { control: ExposeControl; logger: Logger }): void {
  const { control, logger } = opts;
  // Any body is read as JSON, whatever its Content-Type: one the parser skipped would look like
  // no body at all, which means "the default network", so a malformed hide or expose request
  // would act on it (found by test/fuzz).
  const parseJson = express.json({ limit: '64kb', type: () => true });
  // a body that is not JSON is the client's error, not the daemon's (the API's catch-all says 500)
  const json: express.RequestHandler = (req, res, next) =>
    parseJson(req, res, (err?: unknown) => {
      if (err === undefined) next();
      else res.status(400).json({ error: `request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}` });
    });

  const body = <T>(schema: z.ZodType<T>, req: express.Request): T => {
    // DELETE from some clients carries no body at all: the same as {}
    const parsed = schema.safeParse(req.body ?? {});
    if (!parsed.success) throw new ExposeRequestError(describeIssues(parsed.error.issues, 'body'));
    return parsed.data;
  };
  const fail = (res: express.Response, what: string, err: unknown): void => {
    const msg = err instanceof Error ? err.message : String(err);
    const status = err instanceof ExposeRequestError ? err.status : 500;
    if (status >= 500) logger.error(`${what} failed`, { error: msg });
    res.status(status).json({ error: msg });
  };

  app.get('/expose', (_req, res) => {
    const reply: ExposeStatus = { exposed: control.list() };
    res.json(reply);
  });
  app.post('/expose', json, async (req, res) => {
    try {
      const b = body(ExposeBody, req);
      const reply: ExposeReply = { exposed: await control.expose(b.cidrs ?? [], b.name) };
      res.json(reply);
    } catch (err) {
      fail(res, 'expose', err);
    }
  });
  app.delete('/expose', json, async (req, res) => {
    try {
      const b = body(HideBody, req);
      const reply: HideReply = { hidden: await control.hide(b.cidrs ?? []) };
      res.json(reply);
    } catch (err) {
      fail(res, 'hide', err);
    }
  });
}
