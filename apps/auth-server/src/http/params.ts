import type { Request } from 'express';
import type { z } from 'zod';
import { invalidRequest } from '../errors.js';
import type { Params } from '../schemas/oauth.js';
import { parseRequest } from '../schemas/parse.js';

export type { Params };

/**
 * The request's parameters from a form-encoded or JSON body: each a single string (RFC 6749 §3.2:
 * no repeated parameters), validated by the endpoint's schema (schemas/oauth.ts). Anything else is
 * invalid_request, or what `refuse` makes of the schema's first issue.
 */
export function readParams(req: Request, schema: z.ZodType, refuse?: Parameters<typeof parseRequest>[2]): Params {
  const body: unknown = req.body ?? {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidRequest('the body must be an object of parameters');
  const params = Object.create(null) as Params;
  const fields = body as Record<string, unknown>;
  for (const name in fields) {
    if (!Object.hasOwn(fields, name)) continue;
    const value = fields[name];
    if (Array.isArray(value)) throw invalidRequest(`parameter ${JSON.stringify(name.slice(0, 64))} is repeated`);
    if (typeof value !== 'string') throw invalidRequest(`parameter ${JSON.stringify(name.slice(0, 64))} must be a string`);
    params[name] = value;
  }
  parseRequest(schema, params, refuse);
  return params;
}
