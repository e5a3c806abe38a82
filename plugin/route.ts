// What the server dispatches to: one entry per `POST /<Subsystem>.<Method>` path.

import type { z } from 'zod';
import type { RequestContext } from './deadline.ts';
import { parseRequest } from './parse-request.ts';

export interface Route {
  /** Methods without arguments get an empty body from Docker; all others need a JSON object. */
  needsBody: boolean;
  handle(body: unknown, ctx: RequestContext): Promise<object>;
}

export type RouteTable = Record<string, Route>;

/** A method without arguments. */
export function noArgs(fn: () => object | Promise<object>): Route {
  return { needsBody: false, handle: async () => fn() };
}

/** A method whose body must match `schema`; `fn` only ever sees a validated request. */
export function withBody<S extends z.ZodType>(method: string, schema: S, fn: (req: z.infer<S>, ctx: RequestContext) => object | Promise<object>): Route {
  return { needsBody: true, handle: async (body, ctx) => fn(parseRequest(method, schema, body), ctx) };
}
