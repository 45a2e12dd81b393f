import { invalidDpopProof, unauthorizedClient } from '../errors.js';
import type { AppDeps } from '../deps.js';
import type { DpopBinding } from '../dpop/binding.js';
import type { Params } from '../schemas/oauth.js';
import type { ClientRecord } from '../store/store.js';
import { mintRefreshToken, newFamilyId } from '../tokens/refresh-token-format.js';
import { grantAudience, grantScope } from '../tokens/scope.js';
import { tokenResponse, type TokenResponse } from '../tokens/token-response.js';

/**
 * RFC 6749 §4.4, plus a refresh token that starts a rotation family when the client may refresh (the write
 * carries the request's rate-limit charge). With a DPoP proof (`dpop`) the access token is bound to its key,
 * and so is a public client's family.
 */
export async function clientCredentialsGrant(deps: AppDeps, client: ClientRecord, params: Params, dpop?: DpopBinding): Promise<TokenResponse> {
  if (!client.grant_types.includes('client_credentials')) {
    throw unauthorizedClient('the client may not use the client_credentials grant');
  }
  if (client.dpop_bound_access_tokens && !dpop) throw invalidDpopProof('the client must send a DPoP proof (dpop_bound_access_tokens)');
  const scope = grantScope(params.scope, client.scopes);
  const audience = grantAudience(params.resource, client.audiences);
  let refreshToken: string | undefined;
  if (client.grant_types.includes('refresh_token')) {
    const familyId = newFamilyId(client.client_id);
    const minted = mintRefreshToken(familyId);
    const { evicted, charged } = await deps.store.createFamily(
      { id: familyId, client_id: client.client_id, scope, aud: audience, created_at: deps.clock(), public: client.refresh_token_auth === 'none', ...(client.refresh_token_auth === 'none' && dpop ? { jkt: dpop.jkt } : {}) },
      minted.hash,
      deps.refreshPolicy,
      deps.admission?.take(),
    );
    deps.admission?.settle(charged);
    for (const id of evicted) {
      deps.metrics.familiesEvicted.inc();
      deps.logger.info(
        { event: 'refresh_family_evicted', client_id: client.client_id, family_id: id },
        'the client holds MAX_FAMILIES_PER_CLIENT refresh families; its oldest is revoked',
      );
    }
    refreshToken = minted.token;
  }
  await deps.admission?.charge();
  const response = await tokenResponse(deps, client, { scope, audience, refreshToken, dpop });
  deps.metrics.tokensIssued.inc({ grant: 'client_credentials' });
  return response;
}
