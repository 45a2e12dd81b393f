import type { RequestHandler } from 'express';
import { bearerInvalid, bearerMalformed, bearerMissing, insufficientScope } from '../errors.js';
import type { AppDeps } from '../deps.js';
import type { AccessTokenClaims } from '../tokens/access-token.js';
import { activeAccessToken } from '../tokens/active-access-token.js';

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
    const claims = await activeAccessToken(deps, match[1]!, { audience: deps.config.issuer });
    if (!claims) throw bearerInvalid('the access token is invalid, expired or revoked');
    if (!claims.scope.split(' ').includes(scope)) throw insufficientScope(scope);
    res.locals.token = claims satisfies AccessTokenClaims;
    next();
  };
}
