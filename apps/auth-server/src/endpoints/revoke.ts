import type { RequestHandler } from 'express';
import { OAuthError } from '../errors.js';
import { forRequest, type AppDeps } from '../deps.js';
import { authenticateClient, readClientCredentials } from '../http/client-authentication.js';
import { readParams } from '../http/params.js';
import { tokenParamSchema } from '../schemas/oauth.js';
import { verifyOwnAccessToken } from '../tokens/access-token.js';
import { parseRefreshToken } from '../tokens/refresh-token-format.js';

const notYours = () => new OAuthError('unauthorized_client', 400, 'the token was not issued to this client');

/**
 * POST /revoke (RFC 7009). A refresh token, current or spent, revokes its whole family; an access
 * token's jti is denied until it expires. Unknown, expired and malformed tokens answer 200.
 */
export function revokeEndpoint(deps: AppDeps): RequestHandler {
  return async (req, res) => {
    const params = readParams(req, tokenParamSchema);
    const client = await authenticateClient(forRequest(deps, res), readClientCredentials(req, params), '/revoke');
    const token = params.token!;
    const refresh = parseRefreshToken(token);
    if (refresh) {
      const found = await deps.store.findRefreshToken(refresh.familyId, refresh.hash, deps.refreshPolicy);
      if (found) {
        if (found.family.client_id !== client.client_id) throw notYours();
        await deps.store.revokeFamily(refresh.familyId);
        deps.logger.info({ event: 'refresh_family_revoked', client_id: client.client_id, family_id: refresh.familyId }, 'refresh token family revoked');
      }
    } else {
      const claims = await verifyOwnAccessToken(deps.keys, token, { issuer: deps.config.issuer, now: Math.floor(deps.clock() / 1000) });
      if (claims) {
        if (claims.client_id !== client.client_id) throw notYours();
        await deps.store.denyAccessToken(claims.jti, claims.exp * 1000);
        deps.logger.info({ event: 'access_token_revoked', client_id: client.client_id, jti: claims.jti }, 'access token revoked');
      }
    }
    res.status(200).end();
  };
}
