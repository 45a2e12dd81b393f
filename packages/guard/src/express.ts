import type { Request, RequestHandler } from 'express';
import { createRequestAuthenticator, type AuthResult, type RequestAuthenticatorOptions } from './authenticate.js';
import { GuardError, InvalidRequestError, MissingTokenError } from './errors.js';
import { createVerifier, normalizeScopes, type Verifier, type VerifierOptions } from './verifier.js';

export type { AuthResult } from './authenticate.js';

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
  /**
   * Accepted schemes: `allowed` (default: `Bearer` and `DPoP`), `required` (`DPoP` only) or `disabled`
   * (`Bearer` only). A DPoP-bound token (`cnf.jkt`) is refused under `Bearer` in every mode. The proof's
   * `htu` is compared with `req.protocol://req.host` + `req.originalUrl`, so express's `trust proxy`
   * decides whether `X-Forwarded-Proto`/`X-Forwarded-Host` count.
   */
  dpop?: RequestAuthenticatorOptions['dpop'];
  /** Where DPoP proof `jti`s are recorded. Default: bounded, in memory, per process. */
  dpopReplayStore?: RequestAuthenticatorOptions['replayStore'];
  /** SECONDS a DPoP proof's `iat` may lie in the past. Default 60. */
  dpopProofMaxAge?: number | undefined;
}

/** Options of {@link requireAccessToken}: verifier options, or a prebuilt `verifier`. */
export type RequireAccessTokenOptions = GlueOptions & (VerifierOptions | { verifier: Verifier });

/** A Host value: a registered name, IPv4 or bracketed IPv6 literal, and an optional port; nothing else (#244). */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?)(?::\d{1,5})?$/;

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

function headerValues(req: Pick<Request, 'rawHeaders'>, name: string): string[] {
  const raw = req.rawHeaders ?? [];
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) values.push(raw[i + 1]!);
  return values;
}

/**
 * The absolute URL of an express request as this server sees it: `req.protocol` and `req.host` (which honour
 * `X-Forwarded-*` only under `trust proxy`) and `req.originalUrl` (the full path, also under a mount point).
 * @throws {@link InvalidRequestError} when the host is missing or is not a plain host[:port].
 */
export function requestUrl(req: Pick<Request, 'protocol' | 'host' | 'originalUrl'>): string {
  const host = req.host;
  if (typeof host !== 'string' || !HOST.test(host)) throw new InvalidRequestError('the request has no valid Host');
  const path = req.originalUrl.startsWith('/') ? req.originalUrl : `/${req.originalUrl}`;
  return `${req.protocol}://${host}${path}`;
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
  const verifier = 'verifier' in options ? options.verifier : createVerifier(options);
  if (typeof verifier?.verify !== 'function') throw new TypeError('"verifier" must be a Verifier');
  const authenticator = createRequestAuthenticator({
    verifier,
    dpop: options.dpop,
    replayStore: options.dpopReplayStore,
    proofMaxAge: options.dpopProofMaxAge,
  });
  const realm = options.realm ?? verifier.audience;
  if (typeof realm !== 'string' || realm.length === 0 || /["\\]/.test(realm)) {
    throw new TypeError('"realm" must be a non-empty string without quotes or backslashes');
  }
  const scopes = normalizeScopes(options.scopes);

  return async (req, res, next) => {
    let auth: AuthResult;
    try {
      if (hasMember(req.query, 'access_token') || hasMember(req.body, 'access_token')) {
        throw new InvalidRequestError('access tokens are accepted only in the Authorization header');
      }
      const authorization = headerValues(req, 'authorization');
      const dpop = headerValues(req, 'dpop');
      const url = authorization.length === 1 && dpop.length > 0 ? requestUrl(req) : '';
      auth = await authenticator.authenticate({ method: req.method, url, authorization, dpop }, { scopes });
    } catch (error) {
      if (!(error instanceof GuardError)) return next(error);
      res.status(error.status).set(authenticator.errorHeaders(error, realm)).json(error.toJSON());
      return;
    }
    req.auth = auth;
    next();
  };
}
