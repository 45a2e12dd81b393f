import type { Request, RequestHandler } from 'express';
import type { AuthResult } from './authenticate.js';
import { GuardError, InvalidRequestError, MissingTokenError } from './errors.js';
import { absoluteUrl, createRequestGuard, type GuardOptions } from './request.js';

export type { AuthResult } from './authenticate.js';

declare global {
  namespace Express {
    interface Request {
      /** Set by `requireAccessToken` once the bearer token is verified. */
      auth?: AuthResult;
    }
  }
}

/**
 * Options of {@link requireAccessToken}: verifier options, or a prebuilt `verifier`, plus `scopes`, `realm`
 * and the DPoP options. The proof's `htu` is compared with `req.protocol://req.host` + `req.originalUrl`,
 * so express's `trust proxy` decides whether `X-Forwarded-Proto`/`X-Forwarded-Host` count.
 */
export type RequireAccessTokenOptions = GuardOptions;

/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

function hasMember(value: unknown, name: string): boolean {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, name);
}

/**
 * Reads the bearer token of a request from its single `Authorization: Bearer <token>`
 * header (scheme case-insensitive).
 * @throws {@link MissingTokenError} when there is no Authorization header;
 *   {@link InvalidRequestError} when it is malformed, repeated, uses another scheme,
 *   or a token is also (or only) sent as an `access_token` query or body parameter.
 */
export function extractBearerToken(req: Pick<Request, 'headers' | 'rawHeaders' | 'query' | 'body'>): string {
  if (hasMember(req.query, 'access_token') || hasMember(req.body, 'access_token')) {
    throw new InvalidRequestError('access tokens are accepted only in the Authorization header');
  }
  const count = (req.rawHeaders ?? []).filter((name, i) => i % 2 === 0 && name.toLowerCase() === 'authorization').length;
  if (count > 1) throw new InvalidRequestError('the request carries more than one Authorization header');
  const header = req.headers.authorization;
  if (header === undefined) throw new MissingTokenError();
  const match = /^(\S+)(?: +(.*))?$/.exec(header.trim());
  if (!match || match[1]?.toLowerCase() !== 'bearer') {
    throw new InvalidRequestError('the Authorization header must use the Bearer scheme');
  }
  const credentials = match[2] ?? '';
  if (!B64TOKEN.test(credentials)) {
    throw new InvalidRequestError('the Authorization header must carry exactly one Bearer token');
  }
  return credentials;
}

/**
 * The absolute URL of an express request as this server sees it: `req.protocol` and `req.host` (which honour
 * `X-Forwarded-*` only under `trust proxy`) and `req.originalUrl` (the full path, also under a mount point).
 * @throws {@link InvalidRequestError} when the host is missing or is not a plain host[:port].
 */
export function requestUrl(req: Pick<Request, 'protocol' | 'host' | 'originalUrl'>): string {
  return absoluteUrl(req.protocol, req.host, req.originalUrl);
}

/**
 * Express 5 middleware that requires a valid access token: `Bearer`, or `DPoP` with a proof (RFC 9449).
 *
 * On success sets `req.auth` ({@link AuthResult}) and calls `next()`. On failure it
 * answers itself: status from the error (400/401/403/503), `WWW-Authenticate` per
 * RFC 6750 and RFC 9449 §7.1 (or `Retry-After` for 503) and a JSON body `{ error, error_description }`.
 * Unexpected errors go to `next(err)`.
 *
 * @example
 * app.get('/collect', requireAccessToken({ issuer, audience: 'collector', scopes: 'collect' }), handler)
 */
export function requireAccessToken(options: RequireAccessTokenOptions): RequestHandler {
  const guard = createRequestGuard(options);
  return async (req, res, next) => {
    let auth: AuthResult;
    try {
      auth = await guard.authenticate({ method: req.method, rawHeaders: req.rawHeaders, url: () => requestUrl(req), query: req.query, body: req.body });
    } catch (error) {
      if (!(error instanceof GuardError)) return next(error);
      res.status(error.status).set(guard.errorHeaders(error)).json(error.toJSON());
      return;
    }
    req.auth = auth;
    next();
  };
}
