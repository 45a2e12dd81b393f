import type { RequestHandler } from 'express';
import { invalidRequest, unsupportedGrantType } from '../errors.js';
import { forRequest, type AppDeps } from '../deps.js';
import { clientCredentialsGrant } from '../grants/client-credentials.js';
import { refreshTokenGrant } from '../grants/refresh-token.js';
import { readDpopProof } from '../http/dpop-proof.js';
import { tokenExchangeGrant } from '../grants/token-exchange.js';
import { authenticateClient, readClientCredentials } from '../http/client-authentication.js';
import { readParams } from '../http/params.js';
import { afterAdmission } from '../http/rate-limit.js';
import { TOKEN_GRANT_TYPES, tokenRequestSchema, type TokenGrantType } from '../schemas/oauth.js';
import { TOKEN_EXCHANGE_GRANT } from '../store/store.js';

const GRANTS = {
  client_credentials: clientCredentialsGrant,
  refresh_token: refreshTokenGrant,
  [TOKEN_EXCHANGE_GRANT]: tokenExchangeGrant,
} as const satisfies Record<TokenGrantType, unknown>;

export const SUPPORTED_GRANT_TYPES: string[] = [...TOKEN_GRANT_TYPES];

/** POST /token (RFC 6749 §3.2): every grant, with client authentication. */
export function tokenEndpoint(deps: AppDeps): RequestHandler {
  return afterAdmission(async (req, res) => {
    const params = readParams(req, tokenRequestSchema, (issue, description) =>
      issue.path[0] === 'grant_type' && typeof issue.input === 'string' && issue.input !== ''
        ? unsupportedGrantType(`grant_type ${JSON.stringify(issue.input.slice(0, 64))} is not supported`)
        : invalidRequest(description),
    );
    const grantType = params.grant_type as TokenGrantType;
    const credentials = readClientCredentials(req, params);
    const requestDeps = forRequest(deps, res);
    const dpop = await readDpopProof(requestDeps, req, res, '/token');
    const client = await authenticateClient(requestDeps, credentials, '/token');
    return GRANTS[grantType](requestDeps, client, params, dpop);
  });
}
