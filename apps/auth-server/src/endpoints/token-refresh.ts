import type { RequestHandler } from 'express';
import { withRequestLogger, type AppDeps } from '../deps.js';
import { refreshTokenGrant } from '../grants/refresh-token.js';
import { readDpopProof } from '../http/dpop-proof.js';
import { authenticateClient, readClientCredentials } from '../http/client-authentication.js';
import { readParams } from '../http/params.js';
import { refreshRequestSchema } from '../schemas/oauth.js';

/**
 * POST /token/refresh: the seed's endpoint, `{refresh_token}` as JSON or form. Client authentication
 * when credentials are sent; without them only refresh tokens of clients registered with
 * refresh_token_auth "none" are accepted.
 */
export function tokenRefreshEndpoint(deps: AppDeps): RequestHandler {
  return async (req, res) => {
    const params = readParams(req, refreshRequestSchema);
    const credentials = readClientCredentials(req, params);
    const dpop = await readDpopProof(deps, req, res, '/token/refresh');
    const client = credentials
      ? await authenticateClient(withRequestLogger(deps, res), credentials, '/token/refresh')
      : undefined;
    res.json(await refreshTokenGrant(withRequestLogger(deps, res), client, params, dpop));
  };
}
