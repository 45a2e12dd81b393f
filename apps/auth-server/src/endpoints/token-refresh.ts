import type { RequestHandler } from 'express';
import { forRequest, type AppDeps } from '../deps.js';
import { refreshTokenGrant } from '../grants/refresh-token.js';
import { readDpopProof } from '../http/dpop-proof.js';
import { authenticateClient, readClientCredentials } from '../http/client-authentication.js';
import { readParams } from '../http/params.js';
import { afterAdmission } from '../http/rate-limit.js';
import { refreshRequestSchema } from '../schemas/oauth.js';

/**
 * POST /token/refresh: the seed's endpoint, `{refresh_token}` as JSON or form. Client authentication
 * when credentials are sent; without them only refresh tokens of clients registered with
 * refresh_token_auth "none" are accepted.
 */
export function tokenRefreshEndpoint(deps: AppDeps): RequestHandler {
  return afterAdmission(async (req, res) => {
    const params = readParams(req, refreshRequestSchema);
    const credentials = readClientCredentials(req, params);
    const requestDeps = forRequest(deps, res);
    const dpop = await readDpopProof(requestDeps, req, res, '/token/refresh');
    const client = credentials ? await authenticateClient(requestDeps, credentials, '/token/refresh') : undefined;
    return refreshTokenGrant(requestDeps, client, params, dpop);
  });
}
