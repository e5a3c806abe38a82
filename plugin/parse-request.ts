// Validation of request bodies against the zod schemas, turning failures into 400 answers whose
// message names the offending field (Docker shows `Err` to the user verbatim).

import type { z } from 'zod';
import { describeIssues } from '../common/zod-issues.ts';
import { BadRequestError } from './plugin-error.ts';

export function parseRequest<S extends z.ZodType>(method: string, schema: S, body: unknown): z.infer<S> {
  if (body === undefined) throw new BadRequestError(`${method}: empty request body, expected a JSON object`);
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  throw new BadRequestError(`${method}: invalid request: ${describeIssues(result.error.issues)}`);
}
