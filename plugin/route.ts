// What the server dispatches to: one entry per `POST /<Subsystem>.<Method>` path.

export interface Route {
  /** Methods without arguments get an empty body from Docker; all others need a JSON object. */
  needsBody: boolean;
  handle(body: unknown): Promise<object>;
}

export type RouteTable = Record<string, Route>;
