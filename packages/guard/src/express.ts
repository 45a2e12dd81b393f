import type { Request, RequestHandler } from 'express';
import { GuardError, InvalidRequestError, MissingTokenError } from './errors.js';
import { createVerifier, normalizeScopes, type AccessTokenClaims, type Verifier, type VerifierOptions } from './verifier.js';

/** What {@link requireAccessToken} puts on `req.auth`. */
export interface AuthResult {
  /** The verified claims. */
  claims: AccessTokenClaims;
  /** The raw access token, e.g. to forward downstream. Never log it. */
  token: string;
}

declare global {
  namespace Express {
    interface Request {
      /** Set by `requireAccessToken` once the bearer token is verified. */
      auth?: AuthResult;
    }
  }
}

/** Options shared by both forms of {@link requireAccessToken}. */
interface GlueOptions {
  /** Scopes the token must all carry (array or space-separated string). Default none. */
  scopes?: string | readonly string[] | undefined;
  /** `realm` of the `WWW-Authenticate` challenge. Default: the verifier's audience. */
  realm?: string | undefined;
}

/** Options of {@link requireAccessToken}: verifier options, or a prebuilt `verifier`. */
export type RequireAccessTokenOptions = GlueOptions & (VerifierOptions | { verifier: Verifier });

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
 * Express 5 middleware that requires a valid bearer access token.
 *
 * On success sets `req.auth` ({@link AuthResult}) and calls `next()`. On failure it
 * answers itself: status from the error (400/401/403/503), `WWW-Authenticate` per
 * RFC 6750 (or `Retry-After` for 503) and a JSON body `{ error, error_description }`.
 * Unexpected errors go to `next(err)`.
 *
 * @example
 * app.get('/collect', requireAccessToken({ issuer, audience: 'collector', scopes: 'collect' }), handler)
 */
export function requireAccessToken(options: RequireAccessTokenOptions): RequestHandler {
  const verifier = 'verifier' in options ? options.verifier : createVerifier(options);
  if (typeof verifier?.verify !== 'function') throw new TypeError('"verifier" must be a Verifier');
  const realm = options.realm ?? verifier.audience;
  if (typeof realm !== 'string' || realm.length === 0 || /["\\]/.test(realm)) {
    throw new TypeError('"realm" must be a non-empty string without quotes or backslashes');
  }
  const scopes = normalizeScopes(options.scopes);

  return async (req, res, next) => {
    let auth: AuthResult;
    try {
      const token = extractBearerToken(req);
      auth = { claims: await verifier.verify(token, { scopes }), token };
    } catch (error) {
      if (!(error instanceof GuardError)) return next(error);
      res.status(error.status).set(error.headers(realm)).json(error.toJSON());
      return;
    }
    req.auth = auth;
    next();
  };
}
