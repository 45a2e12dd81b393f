import type { RequestHandler } from 'express';
import { bearerInvalid, bearerMalformed, bearerMissing, insufficientScope } from '../errors.js';
import type { AppDeps } from '../deps.js';
import { verifyOwnAccessToken, type AccessTokenClaims } from '../tokens/access-token.js';

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * RFC 6750 protection for the admin API: a valid access token of this issuer, whose audience is the
 * issuer itself, from a client that still exists, holding `scope`. Puts the claims on res.locals.token.
 */
export function requireScope(deps: AppDeps, scope: string): RequestHandler {
  return async (req, res, next) => {
    const header = req.headers.authorization;
    if (!header || !/^bearer(\s|$)/i.test(header)) throw bearerMissing();
    const match = BEARER.exec(header);
    if (!match) throw bearerMalformed('the Authorization header must be "Bearer <token>"');
    const claims = await verifyOwnAccessToken(deps.keys, match[1]!, {
      issuer: deps.config.issuer,
      audience: deps.config.issuer,
      now: Math.floor(deps.clock() / 1000),
    });
    if (!claims) throw bearerInvalid('the access token is invalid or expired');
    const [denied, client] = await Promise.all([deps.store.isAccessTokenDenied(claims.jti), deps.clients.get(claims.client_id)]);
    if (denied || !client) throw bearerInvalid('the access token has been revoked');
    if (!claims.scope.split(' ').includes(scope)) throw insufficientScope(scope);
    res.locals.token = claims satisfies AccessTokenClaims;
    next();
  };
}
