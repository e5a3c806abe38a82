// Validation of request bodies against the zod schemas, turning failures into 400 answers whose
// message names the offending field (Docker shows `Err` to the user verbatim).

import type { z } from 'zod';
import { BadRequestError } from './plugin-error.ts';

export function parseRequest<S extends z.ZodType>(method: string, schema: S, body: unknown): z.infer<S> {
  if (body === undefined) throw new BadRequestError(`${method}: empty request body, expected a JSON object`);
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`).join('; ');
  throw new BadRequestError(`${method}: invalid request: ${details}`);
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(body)';
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}
