import {
  absoluteUrl,
  GuardError,
  headerValues,
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  type AccessTokenClaims,
  type RequestAuthenticator,
} from '@tessera/guard';
import type { Request, RequestHandler, Response } from 'express';
import { BadForwardedHeaderError, originalRequest } from '../forwarded.js';
import { BadPathError, matchRoute, normalizePath, type RouteRule } from '../routes.js';

/** Who may pass: ROUTES_FILE rules, or one audience and scope set for every request. */
export type Policy =
  | { routes: readonly RouteRule[]; audience?: string | undefined }
  | { routes?: undefined; audience: string; scopes: readonly string[] };

/** Realm of challenges when no rule names an audience. */
export const DEFAULT_REALM = 'forward-auth';

const HEADER_SAFE = /^[\x21-\x7e]+(?: [\x21-\x7e]+)*$/;

function restOf(req: Request): string | undefined {
  const url = req.originalUrl;
  return url.startsWith('/verify/') ? url.slice('/verify'.length) : undefined;
}

function queryOf(target: string | undefined): Record<string, string> | undefined {
  const at = target?.indexOf('?') ?? -1;
  return target === undefined || at < 0 ? undefined : Object.fromEntries(new URLSearchParams(target.slice(at + 1).split('#')[0]));
}

/** The identity headers of a 200 (space-separated lists); refuses claims no header can carry. */
function identityHeaders(claims: AccessTokenClaims): Record<string, string> {
  const aud = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
  const headers: Record<string, string> = {
    'X-Auth-Subject': claims.sub,
    'X-Auth-Client-Id': claims.client_id,
    'X-Auth-Audience': aud.join(' '),
  };
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_SAFE.test(value)) throw new InvalidTokenError(`the token's claim for ${name} cannot be passed on in a header`);
  }
  const scope = (claims.scope ?? '').split(' ').filter(Boolean).join(' ');
  if (scope !== '' && !HEADER_SAFE.test(scope)) throw new InvalidTokenError(`the token's scope cannot be passed on in a header`);
  headers['X-Auth-Scope'] = scope;
  return headers;
}

/**
 * `/verify` and `/verify/*` for any method (README "Forward auth"): 200 with X-Auth-Subject, X-Auth-Client-Id,
 * X-Auth-Scope and X-Auth-Audience when the token is good and the rule holds; otherwise the guard's
 * 400/401/403 (RFC 6750 / RFC 9449 §7.1 challenges) or 503 (Retry-After). Order: the forwarded headers
 * and the original path (400), the Authorization header (400, 401 when absent), the token (and its DPoP
 * proof, against the ORIGINAL method and URL) with the rule's audience (401), no matching rule (403),
 * the rule's scopes (403).
 */
export function verifyEndpoint({ authenticator, policy }: { authenticator: RequestAuthenticator; policy: Policy }): RequestHandler {
  const allAudiences = policy.routes ? [...new Set(policy.routes.map((rule) => rule.audience))] : [policy.audience];

  return async (req: Request, res: Response) => {
    res.set('Cache-Control', 'no-store');
    const trusted = (req.app.get('trust proxy fn') as (address: string, hop: number) => boolean)(req.socket.remoteAddress ?? '', 0);
    let realm = policy.audience ?? DEFAULT_REALM;
    try {
      let original;
      let path: string | undefined;
      try {
        original = originalRequest({
          method: req.method,
          headers: req.headers,
          rawHeaders: req.rawHeaders,
          rest: restOf(req),
          protocol: 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http',
          trusted,
        });
        if (original.target !== undefined) path = normalizePath(original.target);
      } catch (error) {
        if (!(error instanceof BadForwardedHeaderError || error instanceof BadPathError)) throw error;
        throw new InvalidRequestError(error.message);
      }
      const rule = policy.routes && path !== undefined ? matchRoute(policy.routes, original.method, path) : undefined;
      if (rule) realm = rule.audience;
      if (Object.hasOwn(queryOf(original.target) ?? {}, 'access_token')) {
        throw new InvalidRequestError('access tokens are accepted only in the Authorization header');
      }

      const authorization = headerValues(req.rawHeaders, 'authorization');
      const dpop = headerValues(req.rawHeaders, 'dpop');
      // The proof is checked against the original request, never /verify; an unknown original URI fails the htu check.
      const url = dpop.length > 0 && original.target !== undefined ? absoluteUrl(original.scheme, original.host, original.target) : '';
      const credentials = { method: original.method, url, authorization, dpop };

      let claims: AccessTokenClaims;
      if (!policy.routes) {
        ({ claims } = await authenticator.authenticate(credentials, { audience: policy.audience, scopes: policy.scopes }));
      } else if (!rule) {
        await authenticator.authenticate(credentials, { audience: allAudiences });
        throw new InsufficientScopeError(
          [],
          path === undefined ? 'the original URI is unknown: no X-Forwarded-Uri or X-Original-URI from a trusted proxy' : 'no route rule allows this request',
        );
      } else {
        ({ claims } = await authenticator.authenticate(credentials, { audience: rule.audience, scopes: rule.scopes }));
      }
      res.status(200).set(identityHeaders(claims)).end();
    } catch (error) {
      if (!(error instanceof GuardError)) throw error;
      res.status(error.status).set(authenticator.errorHeaders(error, realm)).json(error.toJSON());
    }
  };
}
