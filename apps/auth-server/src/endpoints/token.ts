import type { RequestHandler } from 'express';
import { invalidRequest, unsupportedGrantType } from '../errors.js';
import { withRequestLogger, type AppDeps } from '../deps.js';
import { clientCredentialsGrant } from '../grants/client-credentials.js';
import { refreshTokenGrant } from '../grants/refresh-token.js';
import { readDpopProof } from '../http/dpop-proof.js';
import { authenticateClient, readClientCredentials } from '../http/client-authentication.js';
import { readParams } from '../http/params.js';

const GRANTS = {
  client_credentials: clientCredentialsGrant,
  refresh_token: refreshTokenGrant,
} as const;

export const SUPPORTED_GRANT_TYPES = Object.keys(GRANTS);

const isGrantType = (value: string): value is keyof typeof GRANTS => Object.hasOwn(GRANTS, value);

/** POST /token (RFC 6749 §3.2): every grant, with client authentication. */
export function tokenEndpoint(deps: AppDeps): RequestHandler {
  return async (req, res) => {
    const params = readParams(req);
    const grantType = params.grant_type;
    if (!grantType) throw invalidRequest('grant_type is required');
    if (!isGrantType(grantType)) throw unsupportedGrantType(`grant_type ${JSON.stringify(grantType.slice(0, 64))} is not supported`);
    const credentials = readClientCredentials(req, params);
    const dpop = await readDpopProof(deps, req, res, '/token');
    const client = await authenticateClient(withRequestLogger(deps, res), credentials, '/token');
    res.json(await GRANTS[grantType](withRequestLogger(deps, res), client, params, dpop));
  };
}
