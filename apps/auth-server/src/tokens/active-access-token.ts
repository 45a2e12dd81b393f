import type { AppDeps } from '../deps.js';
import { verifyOwnAccessToken, type AccessTokenClaims } from './access-token.js';

/**
 * The claims of an access token this server issued that is still active: signature against this
 * server's keys, typ, issuer, exp (on the server's clock), its jti not denied by /revoke, and its client
 * still registered. Undefined for anything else. /introspect, the admin API's bearer check and the
 * token-exchange grant all decide "active" here.
 */
export async function activeAccessToken(
  deps: Pick<AppDeps, 'keys' | 'config' | 'store' | 'clients' | 'clock'>,
  token: string,
  options: { audience?: string } = {},
): Promise<AccessTokenClaims | undefined> {
  const claims = await verifyOwnAccessToken(deps.keys, token, { issuer: deps.config.issuer, audience: options.audience, now: Math.floor(deps.clock() / 1000) });
  if (!claims) return undefined;
  const [denied, owner] = await Promise.all([deps.store.isAccessTokenDenied(claims.jti), deps.clients.get(claims.client_id)]);
  return denied || !owner ? undefined : claims;
}
