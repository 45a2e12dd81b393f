import { signAccessToken, type AccessTokenInput } from './access-token.js';
import type { AppDeps } from '../deps.js';
import type { DpopBinding } from '../dpop/binding.js';
import type { ClientRecord } from '../store/store.js';

/** RFC 6749 §5.1 */
export interface TokenResponse {
  access_token: string;
  /** `DPoP` when the access token is bound to a DPoP key (RFC 9449 §5) */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  refresh_token?: string;
  scope: string;
}

/** Signs an access token for the client and shapes the token response around it. */
export async function tokenResponse(
  deps: AppDeps,
  client: ClientRecord,
  grant: { scope: string; audience: string; refreshToken?: string | undefined; dpop?: DpopBinding | undefined } & Pick<AccessTokenInput, 'subject' | 'act' | 'notAfter'>,
): Promise<TokenResponse> {
  const ttl = Math.min(client.access_token_ttl ?? deps.config.accessTokenTtl, deps.config.accessTokenTtl);
  const now = Math.floor(deps.clock() / 1000);
  const token = await signAccessToken(deps.keys, {
    issuer: deps.config.issuer,
    clientId: client.client_id,
    audience: grant.audience,
    scope: grant.scope,
    ttl,
    now,
    subject: grant.subject,
    act: grant.act,
    notAfter: grant.notAfter,
    jkt: grant.dpop?.jkt,
  });
  return {
    access_token: token,
    token_type: grant.dpop ? 'DPoP' : 'Bearer',
    expires_in: Math.min(ttl, (grant.notAfter ?? Infinity) - now),
    ...(grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
    scope: grant.scope,
  };
}
