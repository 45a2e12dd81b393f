import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AuthResult } from './authenticate.js';
import type { GuardError } from './errors.js';
import { absoluteUrl, createRequestGuard, type GuardOptions } from './request.js';
import type { AccessTokenClaims, Verifier } from './verifier.js';

/** Options of {@link createAuthenticator}: those of every adapter, plus how to see the request's URL. */
export type AuthenticatorOptions = GuardOptions & {
  /**
   * The absolute URL of a request as clients address it (the DPoP `htu`). Default: `http(s)://` (from the
   * socket) + the `Host` header + `req.url`. Behind a proxy, build it from the headers you trust.
   */
  requestUrl?: ((req: IncomingMessage) => string) | undefined;
};

/**
 * Verifies the access token of a plain `node:http` request: resolves to the verified claims, or rejects
 * with a {@link GuardError} (400, 401, 403 or 503) to answer with {@link sendGuardError}. It never reads
 * the request body.
 */
export interface Authenticator {
  (req: IncomingMessage): Promise<AccessTokenClaims>;
  /** The same, with the raw token and scheme too. */
  readonly authenticate: (req: IncomingMessage) => Promise<AuthResult>;
  /** `realm` of the challenges. */
  readonly realm: string;
  readonly verifier: Verifier;
  /** `WWW-Authenticate` (RFC 6750 / RFC 9449 §7.1) or `Retry-After` for an error it rejected with. */
  readonly errorHeaders: (error: GuardError) => Record<string, string>;
}

function queryOf(url: string | undefined): Record<string, string> | undefined {
  const at = url?.indexOf('?') ?? -1;
  if (url === undefined || at < 0) return undefined;
  return Object.fromEntries(new URLSearchParams(url.slice(at + 1)));
}

function defaultUrl(req: IncomingMessage): string {
  const host = req.headers.host;
  return absoluteUrl((req.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http', typeof host === 'string' ? host : undefined, req.url ?? '/');
}

/**
 * Creates the `node:http` glue: a function of the request, on the same core as the express and fastify
 * adapters (same checks, errors and claims). Options are checked here, once.
 * @throws TypeError naming the offending option.
 * @example
 * const authenticate = createAuthenticator({ issuer, audience: 'billing', scopes: 'read' });
 * createServer(async (req, res) => {
 *   try {
 *     const claims = await authenticate(req);
 *     res.end(`hello ${claims.sub}`);
 *   } catch (error) {
 *     if (error instanceof GuardError) return sendGuardError(res, error, authenticate);
 *     throw error;
 *   }
 * });
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const guard = createRequestGuard(options);
  const url = options.requestUrl ?? defaultUrl;
  if (typeof url !== 'function') throw new TypeError('"requestUrl" must be a function');
  const authenticate = (req: IncomingMessage): Promise<AuthResult> =>
    guard.authenticate({ method: req.method ?? 'GET', rawHeaders: req.rawHeaders, url: () => url(req), query: queryOf(req.url) });
  const claimsOf = async (req: IncomingMessage): Promise<AccessTokenClaims> => (await authenticate(req)).claims;
  return Object.assign(claimsOf, { authenticate, realm: guard.realm, verifier: guard.verifier, errorHeaders: guard.errorHeaders });
}

/**
 * Answers a {@link GuardError} of `authenticator` the way the express glue does: its status,
 * `WWW-Authenticate` (or `Retry-After`) and the JSON body `{ error, error_description }`.
 */
export function sendGuardError(res: ServerResponse, error: GuardError, authenticator: Pick<Authenticator, 'errorHeaders'>): void {
  const body = JSON.stringify(error.toJSON());
  res.writeHead(error.status, {
    ...authenticator.errorHeaders(error),
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}
