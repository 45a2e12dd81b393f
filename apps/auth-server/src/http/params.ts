import type { Request } from 'express';
import { invalidRequest } from '../errors.js';

export type Params = Record<string, string | undefined>;

const hasBody = (req: Request) =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/**
 * The request's parameters from a form-encoded or JSON body: each a single string (RFC 6749 §3.2:
 * no repeated parameters). Anything else is invalid_request.
 */
export function readParams(req: Request): Params {
  const body: unknown = req.body;
  if (body === undefined) {
    if (hasBody(req)) throw invalidRequest('the body must be application/x-www-form-urlencoded or application/json');
    return Object.create(null) as Params;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidRequest('the body must be an object of parameters');
  const params = Object.create(null) as Params;
  for (const [name, value] of Object.entries(body)) {
    if (Array.isArray(value)) throw invalidRequest(`parameter ${JSON.stringify(name.slice(0, 64))} is repeated`);
    if (typeof value !== 'string') throw invalidRequest(`parameter ${JSON.stringify(name.slice(0, 64))} must be a string`);
    params[name] = value;
  }
  return params;
}

/** A parameter that must be present and non-empty. */
export function requireParam(params: Params, name: string): string {
  const value = params[name];
  if (value === undefined || value === '') throw invalidRequest(`${name} is required`);
  return value;
}
