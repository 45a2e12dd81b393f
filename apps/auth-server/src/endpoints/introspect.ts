import type { RequestHandler } from 'express';
import { unauthorizedClient } from '../errors.js';
import { forRequest, type AppDeps } from '../deps.js';
import { authenticateClient, readClientCredentials } from '../http/client-authentication.js';
import { readParams } from '../http/params.js';
import { tokenParamSchema } from '../schemas/oauth.js';
import { activeAccessToken } from '../tokens/active-access-token.js';
import { parseRefreshToken } from '../tokens/refresh-token-format.js';

const INTROSPECTION_SCOPES = ['introspect', 'admin'];

/**
 * POST /introspect (RFC 7662) for clients registered with scope `introspect` or `admin`.
 * Anything expired, revoked, spent, malformed or not issued here is `{active: false}`.
 */
export function introspectEndpoint(deps: AppDeps): RequestHandler {
  const { issuer } = deps.config;
  const inactive = { active: false };

  const describe = async (token: string): Promise<Record<string, unknown>> => {
    const refresh = parseRefreshToken(token);
    if (refresh) {
      const found = await deps.store.findRefreshToken(refresh.familyId, refresh.hash, deps.refreshPolicy);
      if (found?.state !== 'current' || !(await deps.clients.get(found.family.client_id))) return inactive;
      const { family } = found;
      return {
        active: true,
        token_type: 'refresh_token',
        iss: issuer,
        client_id: family.client_id,
        sub: family.client_id,
        scope: family.scope,
        aud: family.aud,
        exp: Math.floor(found.expires_at / 1000),
        family_id: family.id,
        ...(family.jkt ? { cnf: { jkt: family.jkt } } : {}),
      };
    }
    const claims = await activeAccessToken(deps, token);
    if (!claims) return inactive;
    return Object.assign({}, claims, { active: true, token_type: claims.cnf?.jkt ? 'DPoP' : 'access_token' });
  };

  return async (req, res) => {
    const params = readParams(req, tokenParamSchema);
    const caller = await authenticateClient(forRequest(deps, res), readClientCredentials(req, params), '/introspect');
    if (!caller.scopes.some((s) => INTROSPECTION_SCOPES.includes(s))) {
      throw unauthorizedClient('introspection needs a client registered with scope "introspect" or "admin"');
    }
    res.json(await describe(params.token!));
  };
}
